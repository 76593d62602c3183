from fastapi import APIRouter

from app.api.routes import admin, auth, files, health, recovery, reports, users

api_router = APIRouter()
api_router.include_router(auth.router)
api_router.include_router(recovery.router)
api_router.include_router(users.router)
api_router.include_router(files.router)
api_router.include_router(admin.router)
api_router.include_router(health.router)
api_router.include_router(reports.router)
if reports.error_route_enabled():
    api_router.include_router(reports.debug_router)

"""What the backend writes for people, in the site's language (UI_LANGUAGE in settings.env).

Messages of the operator's tools (registration, one-time links, administration, the command line)
live here; `say("key", name=value)` returns the sentence in UI_LANGUAGE. The older sentences of the
API (sign-in, uploads, files) are still English only: moving them here is the next step.
"""

from __future__ import annotations

from app.core.config import settings

MESSAGES: dict[str, dict[str, str]] = {
    "first_admin_name": {"en": "Administrator", "fr": "Administrateur"},
    "registration_invite": {
        "en": "Sign-up is by invitation only: ask an administrator for an invitation link.",
        "fr": "L'inscription se fait sur invitation : demandez un lien d'invitation à un "
        "administrateur.",
    },
    "registration_closed": {
        "en": "Sign-up is closed: an administrator creates the accounts.",
        "fr": "L'inscription est fermée : un administrateur crée les comptes.",
    },
    "link_unknown": {
        "en": "This link is not valid: check that it was copied whole, or ask for a new one.",
        "fr": "Ce lien n'est pas valide : vérifiez qu'il a été copié en entier, ou demandez-en "
        "un nouveau.",
    },
    "link_used": {
        "en": "This link has already been used: ask an administrator for a new one.",
        "fr": "Ce lien a déjà servi : demandez-en un nouveau à un administrateur.",
    },
    "link_expired": {
        "en": "This link has expired: ask an administrator for a new one.",
        "fr": "Ce lien a expiré : demandez-en un nouveau à un administrateur.",
    },
    "link_wrong_email": {
        "en": "This link was made for another e-mail address: use the address it was sent to.",
        "fr": "Ce lien a été créé pour une autre adresse e-mail : utilisez celle à laquelle il "
        "a été envoyé.",
    },
    "invitations_closed": {
        "en": "Sign-up is closed (REGISTRATION=closed): create the account instead.",
        "fr": "L'inscription est fermée (REGISTRATION=closed) : créez plutôt le compte.",
    },
    "last_admin": {
        "en": "This would leave the site without an active administrator: promote someone "
        "else first.",
        "fr": "Le site n'aurait plus d'administrateur actif : nommez-en d'abord un autre.",
    },
    "delete_self": {
        "en": "You cannot delete your own account: ask another administrator.",
        "fr": "Vous ne pouvez pas supprimer votre propre compte : demandez à un autre "
        "administrateur.",
    },
    "delete_confirm": {
        "en": "To delete this account, confirm with its e-mail address ({email}).",
        "fr": "Pour supprimer ce compte, confirmez avec son adresse e-mail ({email}).",
    },
    "cli_admin_created": {
        "en": "Administrator {email} created. Password (shown once): {password}",
        "fr": "Administrateur {email} créé. Mot de passe (affiché une seule fois) : {password}",
    },
    "cli_admin_promoted": {
        "en": "{email} is now an active administrator. New password (shown once): {password}",
        "fr": "{email} est maintenant administrateur actif. Nouveau mot de passe (affiché une "
        "seule fois) : {password}",
    },
    "cli_password_reset": {
        "en": "Password of {email} replaced and its sessions ended. New password (shown once): "
        "{password}",
        "fr": "Mot de passe de {email} remplacé et ses sessions fermées. Nouveau mot de passe "
        "(affiché une seule fois) : {password}",
    },
    "cli_no_account": {
        "en": "No account has the e-mail address {email}: create it with create-admin.",
        "fr": "Aucun compte n'a l'adresse {email} : créez-le avec create-admin.",
    },
}


def say(key: str, **values: object) -> str:
    return MESSAGES[key][settings.UI_LANGUAGE].format(**values)

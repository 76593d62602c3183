"""Each audit entry as a sentence in the site's language (UI_LANGUAGE), from its action and detail.

The entry keeps its action and detail as codes (role=user, quota_mb=2000), stable for whoever
queries the table; people read `summary` (schemas.AuditEntryPublic).
"""

from __future__ import annotations

from app.core import messages
from app.core.config import settings

# One sentence per action, in each language; {…} are filled from the entry's detail.
SENTENCES: dict[str, dict[str, str]] = {
    "invite": {"en": "Invitation link made.", "fr": "Lien d'invitation créé."},
    "create_account": {
        "en": "Account created with the role {role}.",
        "fr": "Compte créé avec le rôle {role}.",
    },
    "create_admin": {
        "en": "Administrator created from the command line.",
        "fr": "Administrateur créé en ligne de commande.",
    },
    "first_admin": {
        "en": "First administrator created at the site's first start.",
        "fr": "Premier administrateur créé au premier démarrage du site.",
    },
    "reset_password": {
        "en": "Password reset from the command line.",
        "fr": "Mot de passe réinitialisé en ligne de commande.",
    },
    "password_reset_link": {
        "en": "Password reset link made.",
        "fr": "Lien de réinitialisation du mot de passe créé.",
    },
    "password_reset_used": {
        "en": "Password set with a reset link made by {issuer}.",
        "fr": "Mot de passe choisi avec un lien de réinitialisation créé par {issuer}.",
    },
    "password_reset_mailed": {
        "en": "Password-reset link mailed at the account's request.",
        "fr": "Lien de réinitialisation envoyé par mail à la demande du compte.",
    },
    "password_reset_used_mail": {
        "en": "Password set with a mailed reset link.",
        "fr": "Mot de passe choisi avec un lien reçu par mail.",
    },
    "set_role": {"en": "Role changed to {role}.", "fr": "Rôle changé en {role}."},
    "activated": {"en": "Account reactivated.", "fr": "Compte réactivé."},
    "deactivated": {"en": "Account deactivated.", "fr": "Compte désactivé."},
    "set_quota_mb": {"en": "Quota set to {quota} MB.", "fr": "Quota fixé à {quota} Mo."},
    "quota_default": {
        "en": "Quota back to the site's default ({quota} MB).",
        "fr": "Quota ramené à celui du site ({quota} Mo).",
    },
    "delete_account": {
        "en": "Account deleted with its {files}.",
        "fr": "Compte supprimé avec {files}.",
    },
    "change_email_asked": {
        "en": "Change of e-mail address to {new} asked: waits for the new address's link.",
        "fr": "Changement d'adresse e-mail vers {new} demandé : attend le lien envoyé à la "
        "nouvelle adresse.",
    },
    "verify_email": {
        "en": "E-mail address verified with the mailed link.",
        "fr": "Adresse e-mail vérifiée avec le lien reçu par mail.",
    },
    "mail_retry": {
        "en": "Failed mail sent again: {subject}",
        "fr": "Mail en échec renvoyé : {subject}",
    },
    "change_email": {
        "en": "E-mail address changed from {old}.",
        "fr": "Adresse e-mail changée (ancienne : {old}).",
    },
}
ROLES = {
    "admin": {"en": "administrator", "fr": "administrateur"},
    "user": {"en": "user", "fr": "utilisateur"},
}
SOMEONE = {"en": "an administrator since deleted", "fr": "un administrateur supprimé depuis"}


def _files(count: int, language: str) -> str:
    if language == "fr":
        return {0: "ses fichiers (aucun)", 1: "son fichier"}.get(count, f"ses {count} fichiers")
    return {0: "files (none)", 1: "file"}.get(count, f"{count} files")


def summary(action: str, detail: str | None) -> str:
    """The sentence of an entry; an action this version does not know is shown as its code."""
    language = messages.language()
    _, _, value = (detail or "").partition("=")
    fields: dict[str, object] = {}
    if action in ("create_account", "set_role"):
        fields["role"] = ROLES.get(value, {}).get(language, value)
    elif action == "set_is_active":
        action = "activated" if value == "True" else "deactivated"
    elif action == "set_quota_mb":
        if value.isdigit():
            fields["quota"] = f"{int(value):,}".replace(",", "\u202f" if language == "fr" else ",")
        else:
            action, fields["quota"] = "quota_default", settings.USER_QUOTA_MB
    elif action == "delete_account":
        fields["files"] = _files(int(value) if value.isdigit() else 0, language)
    elif action == "password_reset_used":
        fields["issuer"] = detail or SOMEONE[language]
    elif action == "change_email":
        fields["old"] = detail or "?"
    elif action == "change_email_asked":
        fields["new"] = detail or "?"
    elif action == "mail_retry":
        fields["subject"] = detail or "?"
    sentence = SENTENCES.get(action)
    if sentence is None:
        return f"{action} ({detail})" if detail else action
    return sentence[language].format(**fields)

"""What the backend writes for people, in the site's language (UI_LANGUAGE in settings.env).

Every sentence the API answers (`detail`, and each problem of a 422) and the command line prints
lives here: `say("key", name=value)` returns it in UI_LANGUAGE. Each names the problem and, where
there is one, the fix. Log lines stay in English: they are for whoever reads the server's logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.core.config import settings

MESSAGES: dict[str, dict[str, str]] = {
    # Not the role's name: the users page shows both side by side (rename it in the profile).
    "first_admin_name": {"en": "Site manager", "fr": "Responsable du site"},
    # --- sign-up and one-time links
    "registration_invite": {
        "en": "Sign-up is by invitation only: ask an administrator for an invitation link.",
        "fr": "L'inscription se fait sur invitation : demandez un lien d'invitation à un "
        "administrateur.",
    },
    "registration_closed": {
        "en": "Sign-up is closed: an administrator creates the accounts.",
        "fr": "L'inscription est fermée : un administrateur crée les comptes.",
    },
    "mail_off": {
        "en": "This site sends no mail: ask an administrator for a reset link.",
        "fr": "Ce site n'envoie pas de mails : demandez un lien à un administrateur.",
    },
    "email_unverified": {
        "en": "Your address {email} is not confirmed yet: open the link in the mail sent to it. "
        "No mail, or the link expired? Ask for a new link.",
        "fr": "Votre adresse {email} n'est pas encore confirmée : ouvrez le lien du mail qui lui "
        "a été envoyé. Pas de mail, ou le lien a expiré ? Demandez un nouveau lien.",
    },
    "verify_link_used": {
        "en": "This link has already been used: if it confirmed your address, sign in.",
        "fr": "Ce lien a déjà servi : s'il a confirmé votre adresse, connectez-vous.",
    },
    "verify_link_expired": {
        "en": "This link has expired: sign in to ask for a new one (or change your address "
        "again from your profile).",
        "fr": "Ce lien a expiré : connectez-vous pour en demander un nouveau (ou changez à "
        "nouveau d'adresse depuis votre profil).",
    },
    "mail_not_failed": {
        "en": "This mail is not failed (it was sent, or it is waiting already): nothing to retry.",
        "fr": "Ce mail n'est pas en échec (il est parti, ou il attend déjà) : rien à renvoyer.",
    },
    "mail_not_found": {
        "en": "This mail is not in the outbox any more.",
        "fr": "Ce mail n'est plus dans la file d'envoi.",
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
    "invitation_pending_already": {
        "en": "This address was already invited: the earlier link still works too, until it "
        "expires or one of the links is used.",
        "fr": "Cette adresse avait déjà reçu une invitation : le lien précédent reste valable lui "
        "aussi, jusqu'à son expiration ou jusqu'à ce que l'un des liens serve.",
    },
    "email_taken": {
        "en": "An account with this e-mail address already exists.",
        "fr": "Un compte existe déjà avec cette adresse e-mail : connectez-vous, ou utilisez "
        "une autre adresse.",
    },
    # --- signing in, sessions
    "login_failed": {
        "en": "Incorrect e-mail address or password.",
        "fr": "Adresse e-mail ou mot de passe incorrect.",
    },
    "too_many_attempts": {
        "en": "Too many failed attempts for this account: wait {seconds} seconds, then try again.",
        "fr": "Trop de tentatives échouées pour ce compte : attendez {seconds} secondes, puis "
        "réessayez.",
    },
    "too_many_email_changes": {
        "en": "Too many e-mail address changes for this account: wait {seconds} seconds, then try "
        "again.",
        "fr": "Trop de changements d'adresse e-mail pour ce compte : attendez {seconds} secondes, "
        "puis réessayez.",
    },
    "password_check_running": {
        "en": "A password check for this account is already under way: wait a second, then try "
        "again.",
        "fr": "Une vérification du mot de passe de ce compte est déjà en cours : attendez une "
        "seconde, puis réessayez.",
    },
    "not_logged_in": {
        "en": "You are not logged in.",
        "fr": "Vous n'êtes pas connecté.",
    },
    "session_expired": {
        "en": "Your session has expired: log in again.",
        "fr": "Votre session a expiré : reconnectez-vous.",
    },
    "session_ended": {
        "en": "Your session has ended: log in again.",
        "fr": "Votre session est terminée : reconnectez-vous.",
    },
    "token_invalid": {
        "en": "Invalid access token: log in again.",
        "fr": "Jeton d'accès non valide : reconnectez-vous.",
    },
    "account_gone": {
        "en": "This account no longer exists: sign in with another account.",
        "fr": "Ce compte n'existe plus : connectez-vous avec un autre compte.",
    },
    "account_deactivated": {
        "en": "This account is deactivated: ask an administrator to reactivate it.",
        "fr": "Ce compte est désactivé : demandez à un administrateur de le réactiver.",
    },
    "admins_only": {
        "en": "Administrators only: sign in with an administrator's account.",
        "fr": "Réservé aux administrateurs : connectez-vous avec un compte administrateur.",
    },
    # --- the caller's account
    "wrong_password": {
        "en": "The current password is wrong: enter the one you sign in with.",
        "fr": "Le mot de passe actuel est faux : saisissez celui que vous utilisez pour vous "
        "connecter.",
    },
    "email_change_needs_password": {
        "en": "Enter your current password to change your e-mail address.",
        "fr": "Saisissez votre mot de passe actuel pour changer d'adresse e-mail.",
    },
    "password_weak": {
        "en": "This password is too easy to guess: {why}",
        "fr": "Ce mot de passe est trop facile à deviner : {why}",
    },
    "password_personal": {
        "en": "It contains your e-mail address, your name or the site's name.",
        "fr": "Il contient votre adresse e-mail, votre nom ou le nom du site.",
    },
    "password_longer": {
        "en": "Add another word or two. Uncommon words are better.",
        "fr": "Ajoutez un ou deux mots. Les mots peu courants sont préférables.",
    },
    # --- administration
    "user_not_found": {
        "en": "No user with this id.",
        "fr": "Aucun utilisateur n'a cet identifiant.",
    },
    "deactivate_self": {
        "en": "You cannot deactivate your own account: ask another administrator.",
        "fr": "Vous ne pouvez pas désactiver votre propre compte : demandez à un autre "
        "administrateur.",
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
    # --- files and uploads (sizes in decimal megabytes: 1 MB = 1,000,000 bytes)
    "file_not_found": {
        "en": "No file with this id.",
        "fr": "Aucun fichier n'a cet identifiant.",
    },
    "upload_too_large": {
        "en": "The file is larger than the {limit_mb} MB upload limit.",
        "fr": "Le fichier dépasse la limite d'envoi de {limit_mb} Mo : envoyez un fichier plus "
        "petit.",
    },
    "upload_over_quota": {
        "en": "This file would exceed your storage quota of {quota_mb} MB: "
        "delete some files first.",
        "fr": "Ce fichier dépasserait votre quota de stockage de {quota_mb} Mo : supprimez "
        "d'abord des fichiers.",
    },
    "too_many_uploads": {
        "en": "Too many uploads at once ({count}): wait for some to finish, then try again.",
        "fr": "Trop de dépôts en même temps ({count}) : attendez la fin de certains, puis "
        "réessayez.",
    },
    "upload_interrupted": {
        "en": "The upload was interrupted before it finished: send the file again.",
        "fr": "L'envoi a été interrompu avant la fin : envoyez le fichier à nouveau.",
    },
    "upload_cut_short": {
        "en": "The upload was cut short (the multipart body is incomplete): send the file again.",
        "fr": "L'envoi est incomplet (corps multipart tronqué) : envoyez le fichier à nouveau.",
    },
    "upload_not_multipart": {
        "en": "Send the file as multipart/form-data in a field named '{field}'.",
        "fr": "Envoyez le fichier en multipart/form-data dans un champ nommé « {field} ».",
    },
    "upload_no_file": {
        "en": "No file in the upload: send it in a multipart/form-data field named '{field}'.",
        "fr": "Aucun fichier dans l'envoi : mettez-le dans un champ multipart/form-data nommé "
        "« {field} ».",
    },
    "upload_boundary_too_long": {
        "en": "The multipart boundary is {length} characters long: at most {limit} are allowed "
        "(RFC 2046).",
        "fr": "La délimitation multipart fait {length} caractères : {limit} au plus sont "
        "acceptés (RFC 2046).",
    },
    "upload_malformed": {
        "en": "The multipart body is malformed: send the file from a form or a standard HTTP "
        "client.",
        "fr": "Le corps multipart est mal formé : envoyez le fichier depuis un formulaire ou "
        "un client HTTP standard.",
    },
    "upload_other_fields": {
        "en": "The upload holds too much besides the file: send only the '{field}' field.",
        "fr": "L'envoi contient trop de données en plus du fichier : n'envoyez que le champ "
        "« {field} ».",
    },
    "storage_unavailable": {
        "en": "The file storage service is unavailable; try again in a moment.",
        "fr": "Le service de stockage des fichiers est indisponible : réessayez dans un instant.",
    },
    "storage_full": {
        "en": "The file storage is full; contact an administrator.",
        "fr": "Le stockage des fichiers est plein : prévenez un administrateur.",
    },
    "storage_bad_answer": {
        "en": "The file storage service gave an unexpected answer; try again later.",
        "fr": "Le service de stockage des fichiers a répondu de façon inattendue : réessayez "
        "plus tard.",
    },
    # --- whole-site failures and guards
    "database_unavailable": {
        "en": "The database is unavailable; try again in a moment.",
        "fr": "La base de données est indisponible : réessayez dans un instant.",
    },
    "concurrent_change": {
        "en": "Another change was made at the same moment: nothing was changed, try again.",
        "fr": "Une autre modification a eu lieu au même instant : rien n'a été changé, réessayez.",
    },
    "too_many_reports": {
        "en": "Too many error reports at once: this one was not recorded.",
        "fr": "Trop de rapports d'erreur à la fois : celui-ci n'a pas été enregistré.",
    },
    "internal_error": {
        "en": "Internal error: the server could not complete this request.",
        "fr": "Erreur interne : le serveur n'a pas pu traiter cette demande. Réessayez ; si "
        "cela persiste, prévenez un administrateur.",
    },
    "route_not_found": {
        "en": "Not Found: no such address in the API; check the URL.",
        "fr": "Introuvable : cette adresse n'existe pas dans l'API ; vérifiez l'URL.",
    },
    "method_not_allowed": {
        "en": "Method Not Allowed: this address does not take {method}.",
        "fr": "Méthode non acceptée : cette adresse n'accepte pas {method}.",
    },
    "not_ready": {
        "en": "Not ready: {down} unreachable.",
        "fr": "Pas prêt : {down} injoignable(s).",
    },
    "cross_site_refused": {
        "en": "Cross-site request refused: this action can only be sent from the site's own "
        "pages. Open the site and try again there.",
        "fr": "Requête d'un autre site refusée : cette action ne peut venir que des pages du "
        "site lui-même. Ouvrez le site et réessayez depuis ses pages.",
    },
    # --- a 422: "<field>: <problem>." for each problem (see errors.py)
    "field_problem": {"en": "{field}: {problem}", "fr": "{field} : {problem}"},
    "invalid_missing": {"en": "missing, fill it in.", "fr": "manquant, remplissez-le."},
    "invalid_too_short": {
        "en": "too short, use at least {min_length} characters.",
        "fr": "trop court, il faut au moins {min_length} caractères.",
    },
    "invalid_too_long": {
        "en": "too long, use at most {max_length} characters.",
        "fr": "trop long, {max_length} caractères au plus.",
    },
    "invalid_extra": {
        "en": "not an accepted field, leave it out.",
        "fr": "champ non accepté, retirez-le.",
    },
    "invalid_at_least": {
        "en": "too small, the least accepted is {ge}.",
        "fr": "trop petit, le minimum est {ge}.",
    },
    "invalid_at_most": {
        "en": "too large, the most accepted is {le}.",
        "fr": "trop grand, le maximum est {le}.",
    },
    "invalid_more_than": {"en": "must be more than {gt}.", "fr": "doit être supérieur à {gt}."},
    "invalid_less_than": {"en": "must be less than {lt}.", "fr": "doit être inférieur à {lt}."},
    "invalid_integer": {
        "en": "not a whole number, write digits only (such as 20).",
        "fr": "pas un nombre entier, n'écrivez que des chiffres (par exemple 20).",
    },
    "invalid_boolean": {"en": "must be true or false.", "fr": "doit valoir true ou false."},
    "invalid_choice": {"en": "must be {expected}.", "fr": "doit valoir {expected}."},
    "invalid_uuid": {
        "en": "not an identifier, a UUID such as 0b7e3f52-8a1c-4c0e-9d1a-5f3e2b6c7d8e is expected.",
        "fr": "pas un identifiant, un UUID tel que 0b7e3f52-8a1c-4c0e-9d1a-5f3e2b6c7d8e est "
        "attendu.",
    },
    "invalid_text": {"en": "must be text.", "fr": "doit être du texte."},
    "invalid_object": {"en": "must be a JSON object.", "fr": "doit être un objet JSON."},
    "invalid_json": {
        "en": "not valid JSON, check the syntax near character {position}.",
        "fr": "JSON non valide, vérifiez la syntaxe vers le caractère {position}.",
    },
    "invalid_other": {
        "en": "{message} ({type}).",
        "fr": "valeur refusée ({type}), corrigez-la.",
    },
    "invalid_null": {"en": "may not be null.", "fr": "ne peut pas être null."},
    "email_hidden_characters": {
        "en": "must not contain invisible, control or direction characters ({characters}).",
        "fr": "ne doit pas contenir de caractères invisibles, de contrôle ou de direction "
        "({characters}).",
    },
    "email_not_an_address": {
        "en": "must be an e-mail address such as ada@example.com.",
        "fr": "doit être une adresse e-mail comme ada@example.com.",
    },
    "email_mixed_scripts": {
        "en": "mixes letters of different alphabets ({scripts}), which can imitate another "
        "address; write it in one alphabet.",
        "fr": "mélange des lettres de plusieurs alphabets ({scripts}), ce qui peut imiter une "
        "autre adresse ; écrivez-la dans un seul alphabet.",
    },
    "control_characters": {
        "en": "must not contain control characters.",
        "fr": "ne doit pas contenir de caractères de contrôle.",
    },
    "field_email": {"en": "E-mail address", "fr": "Adresse e-mail"},
    "field_username": {"en": "E-mail address", "fr": "Adresse e-mail"},
    "field_password": {"en": "Password", "fr": "Mot de passe"},
    "field_new_password": {"en": "New password", "fr": "Nouveau mot de passe"},
    "field_current_password": {"en": "Current password", "fr": "Mot de passe actuel"},
    "field_full_name": {"en": "Name", "fr": "Nom"},
    "field_invitation": {"en": "Invitation link", "fr": "Lien d'invitation"},
    "field_token": {"en": "Link", "fr": "Lien"},
    "field_role": {"en": "Role", "fr": "Rôle"},
    "field_is_active": {"en": "Active", "fr": "Actif"},
    "field_quota_mb": {"en": "Quota (MB)", "fr": "Quota (Mo)"},
    "field_confirm_email": {"en": "Confirmation e-mail", "fr": "E-mail de confirmation"},
    "field_offset": {"en": "Items to skip", "fr": "Éléments à sauter"},
    "field_limit": {"en": "Items per page", "fr": "Éléments par page"},
    "field_file_id": {"en": "File id", "fr": "Identifiant du fichier"},
    "field_user_id": {"en": "User id", "fr": "Identifiant de l'utilisateur"},
    "field_body": {"en": "Request body", "fr": "Corps de la requête"},
    "field_q": {"en": "Search", "fr": "Recherche"},
    "field_sort": {"en": "Sort", "fr": "Tri"},
    "field_order": {"en": "Order", "fr": "Ordre"},
    # --- the command line (python -m app.manage)
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

# zxcvbn's feedback (its zxcvbn/feedback.py), which it writes in English only.
ZXCVBN_FRENCH = {
    "Use a few words, avoid common phrases.": (
        "Utilisez quelques mots, évitez les expressions courantes."
    ),
    "No need for symbols, digits, or uppercase letters.": (
        "Inutile d'ajouter des symboles, des chiffres ou des majuscules."
    ),
    "Add another word or two. Uncommon words are better.": (
        "Ajoutez un ou deux mots. Les mots peu courants sont préférables."
    ),
    "Straight rows of keys are easy to guess.": "Les rangées de touches sont faciles à deviner.",
    "Short keyboard patterns are easy to guess.": (
        "Les motifs courts tapés sur le clavier sont faciles à deviner."
    ),
    "Use a longer keyboard pattern with more turns.": (
        "Utilisez un motif de clavier plus long, avec plus de changements de direction."
    ),
    'Repeats like "aaa" are easy to guess.': (
        "Les répétitions comme « aaa » sont faciles à deviner."
    ),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': (
        "Les répétitions comme « abcabcabc » sont à peine plus difficiles à deviner que « abc »."
    ),
    "Avoid repeated words and characters.": "Évitez les mots et les caractères répétés.",
    'Sequences like "abc" or "6543" are easy to guess.': (
        "Les suites comme « abc » ou « 6543 » sont faciles à deviner."
    ),
    "Avoid sequences.": "Évitez les suites.",
    "Recent years are easy to guess.": "Les années récentes sont faciles à deviner.",
    "Avoid recent years.": "Évitez les années récentes.",
    "Avoid years that are associated with you.": "Évitez les années qui vous sont liées.",
    "Dates are often easy to guess.": "Les dates sont souvent faciles à deviner.",
    "Avoid dates and years that are associated with you.": (
        "Évitez les dates et les années qui vous sont liées."
    ),
    "This is a top-10 common password.": "C'est l'un des 10 mots de passe les plus courants.",
    "This is a top-100 common password.": "C'est l'un des 100 mots de passe les plus courants.",
    "This is a very common password.": "C'est un mot de passe très courant.",
    "This is similar to a commonly used password.": (
        "Il ressemble à un mot de passe très utilisé."
    ),
    "A word by itself is easy to guess.": "Un mot seul est facile à deviner.",
    "Names and surnames by themselves are easy to guess.": (
        "Les prénoms et les noms seuls sont faciles à deviner."
    ),
    "Common names and surnames are easy to guess.": (
        "Les prénoms et les noms courants sont faciles à deviner."
    ),
    "Capitalization doesn't help very much.": "Les majuscules n'aident pas beaucoup.",
    "All-uppercase is almost as easy to guess as all-lowercase.": (
        "Tout en majuscules est presque aussi facile à deviner que tout en minuscules."
    ),
    "Reversed words aren't much harder to guess.": (
        "Les mots écrits à l'envers ne sont guère plus difficiles à deviner."
    ),
    "Predictable substitutions like '@' instead of 'a' don't help very much.": (
        "Les substitutions prévisibles comme « @ » au lieu de « a » n'aident pas beaucoup."
    ),
}

# pydantic's error types (`type` of a 422 problem) and the message of each.
_PROBLEMS = {
    "missing": "invalid_missing",
    "string_too_short": "invalid_too_short",
    "string_too_long": "invalid_too_long",
    "extra_forbidden": "invalid_extra",
    "greater_than_equal": "invalid_at_least",
    "less_than_equal": "invalid_at_most",
    "greater_than": "invalid_more_than",
    "less_than": "invalid_less_than",
    "int_parsing": "invalid_integer",
    "int_type": "invalid_integer",
    "int_from_float": "invalid_integer",
    "bool_parsing": "invalid_boolean",
    "bool_type": "invalid_boolean",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
    "uuid_parsing": "invalid_uuid",
    "uuid_type": "invalid_uuid",
    "string_type": "invalid_text",
    "dict_type": "invalid_object",
    "model_type": "invalid_object",
    "model_attributes_type": "invalid_object",
    "json_invalid": "invalid_json",
}


def language() -> str:
    return settings.UI_LANGUAGE


def say(key: str, **values: object) -> str:
    return MESSAGES[key][language()].format(**values)


def password_feedback(sentence: str) -> str | None:
    """One of zxcvbn's sentences in the site's language; None if it has no translation yet."""
    return sentence if language() == "en" else ZXCVBN_FRENCH.get(sentence)


def field_name(loc: Sequence[Any]) -> str:
    """The field a 422 problem is about, as the person knows it ("body"/"email" → E-mail)."""
    names = [part for part in loc if isinstance(part, str)]
    name = names[-1] if names else "body"
    key = f"field_{name}"
    return say(key) if key in MESSAGES else name


def problem_of(error: Mapping[str, Any]) -> str:
    """One problem of a 422 (pydantic's error dict) as a sentence naming the field and the fix."""
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind.startswith("password_"):
        return str(error["msg"])  # a whole sentence of the routes, naming the password
    if kind == "value_error":
        # From our validators (ctx) or the routes (deps.invalid_field): already in the language.
        problem = str(context.get("error", error["msg"]))
    elif kind in _PROBLEMS:
        values = {name: value for name, value in context.items() if isinstance(value, int | str)}
        if kind in ("enum", "literal_error"):
            expected = str(context.get("expected", ""))  # pydantic's "'a' or 'b'"
            if language() == "fr":
                expected = expected.replace(" or ", " ou ")
            values["expected"] = expected
        if kind == "json_invalid":
            values["position"] = next((p for p in error["loc"] if isinstance(p, int)), 0)
        problem = say(_PROBLEMS[kind], **values)
    else:
        problem = say("invalid_other", message=error["msg"], type=kind)
    return say("field_problem", field=field_name(error["loc"]), problem=problem)

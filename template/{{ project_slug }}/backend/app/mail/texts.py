"""What each mail says, in the site's language (UI_LANGUAGE): a subject, paragraphs and, for a
mail that carries a link, the button's words. `{site}` is PROJECT_NAME; other names come from
the caller (outbox.enqueue's `values`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailText:
    subject: str
    paragraphs: tuple[str, ...]
    button: str | None = None  # the link's words; None: a mail without a link


TEXTS: dict[str, dict[str, MailText]] = {
    "test": {
        "en": MailText(
            "{site}: test mail",
            ("This mail was sent by `python -m app.manage send-test-mail`: mail works.",),
        ),
        "fr": MailText(
            "{site} : mail de test",
            (
                "Ce mail a été envoyé par `python -m app.manage send-test-mail` : l'envoi de "
                "mails fonctionne.",
            ),
        ),
    },
    "password_reset": {
        "en": MailText(
            "{site}: choose a new password",
            (
                "Someone (you, we hope) asked for a new password for your account {email}.",
                "The link below works once, for {minutes} minutes. If you did not ask, ignore "
                "this mail: your password stays as it is.",
            ),
            "Choose a new password",
        ),
        "fr": MailText(
            "{site} : choisissez un nouveau mot de passe",
            (
                "Quelqu'un (vous, espérons-le) a demandé un nouveau mot de passe pour votre "
                "compte {email}.",
                "Le lien ci-dessous fonctionne une fois, pendant {minutes} minutes. Si vous "
                "n'avez rien demandé, ignorez ce mail : votre mot de passe ne change pas.",
            ),
            "Choisir un nouveau mot de passe",
        ),
    },
    "invitation": {
        "en": MailText(
            "{site}: you are invited",
            (
                "{inviter} invites you to create an account on {site} with the address {email}.",
                "The link below works once, for {hours} hours.",
            ),
            "Create my account",
        ),
        "fr": MailText(
            "{site} : vous êtes invité(e)",
            (
                "{inviter} vous invite à créer un compte sur {site} avec l'adresse {email}.",
                "Le lien ci-dessous fonctionne une fois, pendant {hours} heures.",
            ),
            "Créer mon compte",
        ),
    },
    "password_changed": {
        "en": MailText(
            "{site}: your password was changed",
            (
                "The password of your account {email} was changed, and every session of the "
                "account was ended.",
                "If you did not do it, ask for a new password on the sign-in page at once, and "
                "tell an administrator.",
            ),
        ),
        "fr": MailText(
            "{site} : votre mot de passe a changé",
            (
                "Le mot de passe de votre compte {email} a été changé, et toutes les sessions du "
                "compte ont été fermées.",
                "Si ce n'est pas vous, demandez tout de suite un nouveau mot de passe sur la page "
                "de connexion, et prévenez un administrateur.",
            ),
        ),
    },
}

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
    "verify_email": {
        "en": MailText(
            "{site}: confirm your address",
            (
                "Welcome to {site}. To finish creating your account {email}, confirm that this "
                "address is yours: your account can be used once it is confirmed.",
                "The link below works once, for {hours} hours. If you did not sign up, ignore "
                "this mail: nobody can use the account.",
            ),
            "Confirm my address",
        ),
        "fr": MailText(
            "{site} : confirmez votre adresse",
            (
                "Bienvenue sur {site}. Pour terminer la création de votre compte {email}, "
                "confirmez que cette adresse est la vôtre : le compte sera utilisable une fois "
                "l'adresse confirmée.",
                "Le lien ci-dessous fonctionne une fois, pendant {hours} heures. Si vous ne vous "
                "êtes pas inscrit(e), ignorez ce mail : personne ne peut utiliser le compte.",
            ),
            "Confirmer mon adresse",
        ),
    },
    "confirm_new_email": {
        "en": MailText(
            "{site}: confirm your new address",
            (
                "You asked to use {email} for your account on {site}, in place of {old}.",
                "The address changes once you open the link below, which works once, for "
                "{hours} hours. If you did not ask, ignore this mail: nothing changes.",
            ),
            "Confirm this address",
        ),
        "fr": MailText(
            "{site} : confirmez votre nouvelle adresse",
            (
                "Vous avez demandé à utiliser {email} pour votre compte sur {site}, à la place "
                "de {old}.",
                "L'adresse change quand vous ouvrez le lien ci-dessous, qui fonctionne une fois, "
                "pendant {hours} heures. Si vous n'avez rien demandé, ignorez ce mail : rien ne "
                "change.",
            ),
            "Confirmer cette adresse",
        ),
    },
    "email_changed": {
        "en": MailText(
            "{site}: your e-mail address was changed",
            (
                "The address of your account {email} was changed to {new}: from now on, sign in "
                "with {new}, and mails from {site} go there.",
                "If you did not do it, tell an administrator at once.",
            ),
        ),
        "fr": MailText(
            "{site} : votre adresse e-mail a changé",
            (
                "L'adresse de votre compte {email} a été remplacée par {new} : désormais, "
                "connectez-vous avec {new}, et les mails de {site} y seront envoyés.",
                "Si ce n'est pas vous, prévenez tout de suite un administrateur.",
            ),
        ),
    },
}

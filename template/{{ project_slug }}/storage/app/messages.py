"""What the storage service answers, in the site's language (UI_LANGUAGE in settings.env).

People meet the download answers (a link that expired, a file that is gone); the backend and the
operator meet the rest. `say(settings, "key", name=value)` returns the sentence in the language of
those settings. Log lines stay in English.
"""

from app.config import Settings

MESSAGES: dict[str, dict[str, str]] = {
    "file_not_found": {"en": "No such file.", "fr": "Aucun fichier de ce nom."},
    "link_invalid": {
        "en": "This download link is not valid: open the file again from your list of files.",
        "fr": "Ce lien de téléchargement n'est pas valide : rouvrez le fichier depuis votre "
        "liste de fichiers.",
    },
    "link_expired": {
        "en": "This download link has expired: open the file again from your list of files.",
        "fr": "Ce lien de téléchargement a expiré : rouvrez le fichier depuis votre liste de "
        "fichiers.",
    },
    # Sizes in decimal megabytes (1 MB = 1,000,000 bytes), as the backend and the interface count.
    "upload_too_large": {
        "en": "The file is larger than the {limit_mb} MB upload limit.",
        "fr": "Le fichier dépasse la limite d'envoi de {limit_mb} Mo : envoyez un fichier plus "
        "petit.",
    },
    "upload_interrupted": {
        "en": "The upload was interrupted.",
        "fr": "L'envoi a été interrompu : rien n'a été conservé.",
    },
    "volume_full": {
        "en": "The storage volume is full: the upload was not kept. Free space on the server or "
        "enlarge the volume.",
        "fr": "Le volume de stockage est plein : l'envoi n'a pas été conservé. Libérez de la "
        "place sur le serveur ou agrandissez le volume.",
    },
    "volume_not_written": {
        "en": "The storage volume could not be written ({error}); nothing was kept.",
        "fr": "Le volume de stockage n'a pas pu être écrit ({error}) : rien n'a été conservé.",
    },
    "object_store_not_written": {
        "en": "The object store could not be written ({error}); nothing was kept.",
        "fr": "Le stockage objet n'a pas pu être écrit ({error}) : rien n'a été conservé.",
    },
    "object_store_down": {
        "en": "The object store is unavailable ({error}): try again shortly.",
        "fr": "Le stockage objet est indisponible ({error}) : réessayez dans un instant.",
    },
    "bucket_unusable": {
        "en": "The bucket cannot be used ({error}): check S3_ENDPOINT, S3_BUCKET and the S3 "
        "credentials in .env.",
        "fr": "Le bucket est inutilisable ({error}) : vérifiez S3_ENDPOINT, S3_BUCKET et les "
        "identifiants S3 dans .env.",
    },
    "volume_not_writable": {
        "en": "The storage volume is not writable ({error}): check STORAGE_DIR, its permissions "
        "and free space.",
        "fr": "Le volume de stockage n'est pas accessible en écriture ({error}) : vérifiez "
        "STORAGE_DIR, ses droits et l'espace libre.",
    },
    "internal_only": {
        "en": "This storage endpoint is internal: send Authorization: Bearer <STORAGE_TOKEN>.",
        "fr": "Cette adresse du stockage est interne : envoyez Authorization: Bearer "
        "<STORAGE_TOKEN>.",
    },
    "no_such_owner": {
        "en": "No such owner: send a lowercase UUID.",
        "fr": "Propriétaire inconnu : envoyez un UUID en minuscules.",
    },
    "unexpected_error": {
        "en": "The storage service failed unexpectedly; see its log.",
        "fr": "Le service de stockage a échoué de façon inattendue : consultez son journal.",
    },
}


def say(settings: Settings, key: str, **values: object) -> str:
    return MESSAGES[key][settings.UI_LANGUAGE].format(**values)

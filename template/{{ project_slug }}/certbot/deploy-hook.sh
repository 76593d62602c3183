#!/bin/sh
### Usage: certbot ... --deploy-hook /path/to/deploy-hook.sh
###
### certbot runs this after it obtained or renewed a certificate, with RENEWED_LINEAGE set to the
### certificate's live/ folder. It installs the new certificate at TLS_CERTIFICATE(_KEY), the files
### nginx serves; the watcher in the nginx container sees the change and reloads nginx. No Docker
### socket is needed: the two containers share only the certificate volume.
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
# certbot reports anything a hook writes to stderr as "ran with error output", even on success:
# the hook's log lines go to stdout, which certbot logs as ordinary output.
exec 2>&1

require RENEWED_LINEAGE TLS_CERTIFICATE TLS_CERTIFICATE_KEY
install_certificate "$RENEWED_LINEAGE/fullchain.pem" "$RENEWED_LINEAGE/privkey.pem"

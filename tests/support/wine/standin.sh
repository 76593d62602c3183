#!/bin/sh
# POSIX twin of standin.c, for the .sh deploy scripts: the same log line (working folder, tool,
# arguments, tab-separated) and the same STANDIN_* controls. A code above 255 (the .exe's
# 0xC000013A, a Ctrl+C'd ssh.exe) becomes what a Ctrl+C does here: the tool dies of SIGINT.
# TOOL is replaced by the tool's name when the fixture installs it.
log=${STANDIN_LOG:?STANDIN_LOG is not set}
calls=0
[ -f "$log" ] && calls=$(wc -l < "$log")
{
    printf '%s\t%s' "$(pwd -P)" TOOL
    for arg; do printf '\t%s' "$arg"; done
    printf '\n'
} >> "$log"
[ -z "${STANDIN_STDOUT:-}" ] || printf '%s\n' "$STANDIN_STDOUT"
if [ "${STANDIN_FAIL_AT:-0}" -eq $((calls + 1)) ]; then
    code=$((STANDIN_FAIL_CODE))
    if [ "$code" -gt 255 ]; then kill -INT $$; exit 130; fi
    exit "$code"
fi
exit 0

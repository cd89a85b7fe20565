#!/bin/sh
# CGI demo: the smallest possible script. Headers, a blank line, then the body.
printf 'Content-Type: text/plain\r\n'
printf '\r\n'
printf 'Hello from a shell CGI script.\n'
printf 'Method: %s\n' "${REQUEST_METHOD:-unknown}"

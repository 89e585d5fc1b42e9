#!/bin/sh
# The container's entry point: prepares the database and static files, then becomes the server.
#
#   entrypoint.sh                 migrate, collectstatic, then the server on 0.0.0.0:8000
#   entrypoint.sh CMD [ARG...]    migrate, collectstatic, then CMD (e.g. python manage.py shell)
#
# DJANGO_MIGRATE=0 skips migrating: extra replicas leave it to the first one instead of racing it.
# The command is exec'd so that it becomes PID 1 and receives docker's SIGTERM itself.
set -eu

app_dir=$(cd "$(dirname "$0")/.." && pwd)

if [ "${DJANGO_MIGRATE:-1}" != "0" ]; then
    python "$app_dir/manage.py" migrate --noinput
fi
python "$app_dir/manage.py" collectstatic --noinput --verbosity 0

if [ "$#" -eq 0 ]; then
    set -- python "$app_dir/manage.py" serve --host 0.0.0.0 --port 8000
fi
exec "$@"

#!/usr/bin/env bash
# OneVisit's PostgreSQL backup (docs/deploy.md, "Backups"): one pg_dump in custom format into BACKUP_DIR,
# written under a temporary name and renamed when complete, then dumps older than KEEP_DAYS removed.
# Reads DATABASE_URL (the app's; postgresql+psycopg:// is accepted) from the environment.
# Prints the path of the new dump.
set -euo pipefail
: "${DATABASE_URL:?is not set (the PostgreSQL URL of the app)}"
BACKUP_DIR=${BACKUP_DIR:-/var/backups/onevisit}
KEEP_DAYS=${KEEP_DAYS:-14}
case "$DATABASE_URL" in
  postgresql+psycopg://*) url="postgresql://${DATABASE_URL#postgresql+psycopg://}" ;;
  postgresql://*|postgres://*) url=$DATABASE_URL ;;
  *) echo "backup.sh: DATABASE_URL is not a PostgreSQL URL" >&2; exit 2 ;;
esac
mkdir -p "$BACKUP_DIR"
umask 077
name="onevisit-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --compress=6 --no-owner --file="$BACKUP_DIR/.$name.partial" --dbname="$url"
mv "$BACKUP_DIR/.$name.partial" "$BACKUP_DIR/$name"
pg_restore --list "$BACKUP_DIR/$name" >/dev/null   # a dump pg_restore cannot read is no backup
find "$BACKUP_DIR" -maxdepth 1 -name 'onevisit-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "$BACKUP_DIR/$name"

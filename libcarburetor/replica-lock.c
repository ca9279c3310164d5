/* Carburetor — one CarbReplica per replica file, in this process and in
 * every other: an exclusive flock(2) on "<file>-replica-lock" (<file> with
 * its symbolic links followed, as SQLite follows them), held from
 * carb_replica_open() to the object's finalization.
 *
 * Why: two objects on one file would each keep a clock for the same site
 * id, and could give one version to two different writes (a tie, which
 * each site would settle its own way: divergence), and their syncs could
 * meet in a first download's sweep. The application's own SQLite
 * connections (plain SQL readers) take no such lock and are not affected.
 * flock rather than fcntl: closing any descriptor of a file drops every
 * fcntl lock the process holds on it, SQLite's included, so the lock lives
 * on a file of its own. It goes with the process: a crash never leaves a
 * replica locked.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

#ifdef G_OS_UNIX
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>
#endif

#ifdef G_OS_UNIX
/* SQLite's own limit on links followed (SQLITE_MAX_SYMLINK). */
#define MAX_LINKS 100

/* The file SQLite opens for @path: SQLite follows symbolic links to the
 * database file (not only to its directories), so a link and its target
 * are one replica and must take one lock file. Returns: (transfer full):
 * the path with the links of its last component followed. */
static char *
follow_links (const char *path)
{
  g_autofree char *current = g_strdup (path);
  for (guint i = 0; i < MAX_LINKS && g_file_test (current, G_FILE_TEST_IS_SYMLINK); i++)
    {
      g_autofree char *target = g_file_read_link (current, NULL);
      if (target == NULL)
        break;
      if (!g_path_is_absolute (target))
        {
          g_autofree char *dir = g_path_get_dirname (current);
          g_autofree char *relative = g_steal_pointer (&target);
          target = g_build_filename (dir, relative, NULL);
        }
      g_free (current);
      current = g_steal_pointer (&target);
    }
  return g_steal_pointer (&current);
}
#endif

gboolean
carb_replica_lock_file (CarbReplica *replica, GError **error)
{
#ifdef G_OS_UNIX
  /* SQLite's private databases (in memory, or a temporary file) have no
   * file another object could open. */
  if (replica->path[0] == '\0' || strcmp (replica->path, ":memory:") == 0)
    return TRUE;
  /* Beside the file itself: a symbolic link to it must find the lock
   * its target's object holds. (A second hard link to a SQLite database
   * is unsafe anyway, SQLite's documentation says, and is not caught.) */
  g_autofree char *file = follow_links (replica->path);
  g_autofree char *lock_path = g_strconcat (file, "-replica-lock", NULL);
  int fd = g_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Replica “%s”: cannot open its lock file “%s”: %s", replica->path, lock_path,
                   g_strerror (saved));
      return FALSE;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      close (fd);
      if (saved == EWOULDBLOCK)
        g_set_error (error, CARB_ERROR, CARB_ERROR_BUSY,
                     "Replica “%s” is open already, in this process or another (its lock file “%s” is "
                     "held): open a replica file once and share the object",
                     replica->path, lock_path);
      else
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "Replica “%s”: cannot lock “%s”: %s",
                     replica->path, lock_path, g_strerror (saved));
      return FALSE;
    }
  replica->lock_fd = fd;
#endif
  return TRUE;
}

void
carb_replica_unlock_file (CarbReplica *replica)
{
#ifdef G_OS_UNIX
  if (replica->lock_fd >= 0)
    close (replica->lock_fd);
  replica->lock_fd = -1;
#endif
}

/* A round-trip counting proxy for PostgreSQL's v3 protocol; see rt-proxy.h.
 *
 * Each accepted connection gets two threads, one per direction, with
 * blocking GSocket I/O: a single thread polling both sides could block on a
 * full socket buffer while its peer waits for it to read. Every chunk is
 * parsed (message framing only) before it is forwarded, so the counts are
 * up to date when the client sees the server's answer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rt-proxy.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

/* Startup-phase request codes (protocol.html, "Message Formats"). */
#define CODE_CANCEL_REQUEST 80877102
#define CODE_SSL_REQUEST    80877103
#define CODE_GSSENC_REQUEST 80877104

/* A startup packet bigger than this is not PostgreSQL's protocol. */
#define MAX_STARTUP_PACKET 10000
/* How much of a Query, Parse or Bind the log keeps. */
#define CAPTURE_BYTES 160

typedef struct Conn Conn;

struct RtProxy
{
  GSocket *listener;
  guint16 port;
  GSocketConnectable *server;
  GCancellable *cancellable;
  GThread *accept_thread;
  gulong hold_us; /* how long an answer that ends a wait is held back */

  GMutex lock; /* everything below, and each Conn's outstanding */
  GPtrArray *conns;
  guint n_accepted;
  guint round_trips, syncs, connections;
  GPtrArray *log; /* char *, one line per round trip */
};

/* The framing state of one direction of one connection. */
typedef struct
{
  guint8 header[5]; /* type byte + big-endian length (length includes itself) */
  guint header_len;
  gsize body_left;
  GByteArray *body; /* the body's first CAPTURE_BYTES, for the log */
} Framing;

struct Conn
{
  RtProxy *proxy;
  guint index;
  GSocket *client;
  GSocketConnection *server_conn;
  GSocket *server;
  GThread *up, *down;
  Framing up_framing, down_framing;
  GString *pending;  /* client messages since its last Sync/Query, for the log */
  guint outstanding; /* Sync/Query sent, not yet answered by 'Z' */
};

/* ------------------------------------------------------------ socket I/O */

static gboolean
send_all (GSocket *socket, const guint8 *data, gsize len, GCancellable *cancellable)
{
  while (len > 0)
    {
      gssize n = g_socket_send (socket, (const char *) data, len, cancellable, NULL);
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gboolean
receive_exact (GSocket *socket, guint8 *data, gsize len, GCancellable *cancellable)
{
  while (len > 0)
    {
      gssize n = g_socket_receive (socket, (char *) data, len, cancellable, NULL);
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Ends both directions of a connection: the other thread's receive returns. */
static void
conn_shutdown (Conn *conn)
{
  g_socket_shutdown (conn->client, TRUE, TRUE, NULL);
  g_socket_shutdown (conn->server, TRUE, TRUE, NULL);
}

/* --------------------------------------------------------------- framing */

typedef void (*MessageFunc) (Conn *conn, guint8 type, const guint8 *body, gsize body_len);

/* Feeds @len bytes of typed messages; calls @func once per complete one. */
static void
framing_feed (Framing *f, Conn *conn, const guint8 *data, gsize len, MessageFunc func)
{
  while (len > 0)
    {
      if (f->header_len < 5)
        {
          gsize take = MIN (len, 5 - f->header_len);
          memcpy (f->header + f->header_len, data, take);
          f->header_len += take;
          data += take;
          len -= take;
          if (f->header_len < 5)
            return;
          guint32 length = read_be32 (f->header + 1);
          f->body_left = length >= 4 ? length - 4 : 0;
          g_byte_array_set_size (f->body, 0);
        }
      gsize take = MIN (len, f->body_left);
      if (f->body->len < CAPTURE_BYTES)
        g_byte_array_append (f->body, data, MIN (take, CAPTURE_BYTES - f->body->len));
      data += take;
      len -= take;
      f->body_left -= take;
      if (f->body_left == 0)
        {
          func (conn, f->header[0], f->body->data, f->body->len);
          f->header_len = 0;
        }
    }
}

/* The first NUL-terminated string at @offset of a captured body, printable. */
static char *
body_string (const guint8 *body, gsize body_len, gsize offset)
{
  if (offset >= body_len)
    return g_strdup ("");
  const char *s = (const char *) body + offset;
  gsize n = strnlen (s, body_len - offset);
  g_autofree char *copy = g_strndup (s, n);
  g_strdelimit (copy, "\n\r\t", ' ');
  return g_utf8_make_valid (copy, -1);
}

static void
describe_message (GString *out, guint8 type, const guint8 *body, gsize body_len)
{
  if (out->len > 0)
    g_string_append (out, " | ");
  g_string_append_c (out, (char) type);
  if (type == 'Q')
    {
      g_autofree char *sql = body_string (body, body_len, 0);
      g_string_append_printf (out, " %s", sql);
    }
  else if (type == 'P' || type == 'B')
    {
      /* Parse: statement name, query. Bind: portal name, statement name. */
      g_autofree char *first = body_string (body, body_len, 0);
      gsize second_at = strnlen ((const char *) body, body_len) + 1;
      g_autofree char *second = body_string (body, body_len, second_at);
      if (type == 'P')
        g_string_append_printf (out, " \"%s\" %s", first, second);
      else
        g_string_append_printf (out, " \"%s\"", second);
    }
}

/* A message from the client, before it goes to the server. */
static void
client_message (Conn *conn, guint8 type, const guint8 *body, gsize body_len)
{
  RtProxy *proxy = conn->proxy;
  g_mutex_lock (&proxy->lock);
  if (type != 'X')
    describe_message (conn->pending, type, body, body_len);
  if (type == 'S' || type == 'Q')
    {
      proxy->syncs++;
      if (conn->outstanding == 0)
        {
          /* Idle until now: the client starts waiting, a new round trip. */
          proxy->round_trips++;
          g_ptr_array_add (proxy->log, g_strdup_printf ("%u: [conn %u] %s", proxy->round_trips, conn->index,
                                                        conn->pending->str));
        }
      else if (proxy->log->len > 0)
        {
          /* Sent while an earlier wait lasts: part of that round trip. */
          char *line = proxy->log->pdata[proxy->log->len - 1];
          proxy->log->pdata[proxy->log->len - 1] = g_strconcat (line, " || ", conn->pending->str, NULL);
          g_free (line);
        }
      conn->outstanding++;
      g_string_truncate (conn->pending, 0);
    }
  g_mutex_unlock (&proxy->lock);
}

/* A message from the server, before it goes to the client. */
static void
server_message (Conn *conn, guint8 type, const guint8 *body, gsize body_len)
{
  if (type != 'Z')
    return;
  g_mutex_lock (&conn->proxy->lock);
  if (conn->outstanding == 1)
    {
      /* The answer that would end the wait is held back a moment: a
       * client that sends a pipeline in several flushes (libpq flushes at
       * every PQpipelineSync) has sent the rest by then, so a fast answer
       * to its first part does not split one wait into two. A client that
       * really waits cannot send before this answer reaches it. */
      g_mutex_unlock (&conn->proxy->lock);
      g_usleep (conn->proxy->hold_us);
      g_mutex_lock (&conn->proxy->lock);
    }
  /* The 'Z' that ends the startup answers no Sync. */
  if (conn->outstanding > 0)
    conn->outstanding--;
  g_mutex_unlock (&conn->proxy->lock);
}

/* ------------------------------------------------------------- threads */

/* The startup phase: untyped packets. SSLRequest and GSSENCRequest get 'N'
 * from the proxy; the startup message (or a cancel request) is forwarded,
 * and typed messages follow. FALSE if the client went away. */
static gboolean
pass_startup (Conn *conn)
{
  GCancellable *cancellable = conn->proxy->cancellable;
  for (;;)
    {
      guint8 head[8];
      if (!receive_exact (conn->client, head, 8, cancellable))
        return FALSE;
      guint32 length = read_be32 (head);
      guint32 code = read_be32 (head + 4);
      if (length < 8 || length > MAX_STARTUP_PACKET)
        return FALSE;
      if (length == 8 && (code == CODE_SSL_REQUEST || code == CODE_GSSENC_REQUEST))
        {
          if (!send_all (conn->client, (const guint8 *) "N", 1, cancellable))
            return FALSE;
          continue;
        }
      g_autofree guint8 *packet = g_malloc (length);
      memcpy (packet, head, 8);
      if (!receive_exact (conn->client, packet + 8, length - 8, cancellable)
          || !send_all (conn->server, packet, length, cancellable))
        return FALSE;
      return code != CODE_CANCEL_REQUEST;
    }
}

static gpointer
pump_up (gpointer data)
{
  Conn *conn = data;
  GCancellable *cancellable = conn->proxy->cancellable;
  guint8 buf[65536];

  if (pass_startup (conn))
    for (;;)
      {
        gssize n = g_socket_receive (conn->client, (char *) buf, sizeof buf, cancellable, NULL);
        if (n <= 0)
          break;
        framing_feed (&conn->up_framing, conn, buf, (gsize) n, client_message);
        if (!send_all (conn->server, buf, (gsize) n, cancellable))
          break;
      }
  conn_shutdown (conn);
  return NULL;
}

static gpointer
pump_down (gpointer data)
{
  Conn *conn = data;
  GCancellable *cancellable = conn->proxy->cancellable;
  guint8 buf[65536];

  for (;;)
    {
      gssize n = g_socket_receive (conn->server, (char *) buf, sizeof buf, cancellable, NULL);
      if (n <= 0)
        break;
      framing_feed (&conn->down_framing, conn, buf, (gsize) n, server_message);
      if (!send_all (conn->client, buf, (gsize) n, cancellable))
        break;
    }
  conn_shutdown (conn);
  return NULL;
}

static void
conn_free (Conn *conn)
{
  g_cancellable_cancel (conn->proxy->cancellable);
  conn_shutdown (conn);
  g_thread_join (conn->up);
  g_thread_join (conn->down);
  g_object_unref (conn->client);
  g_object_unref (conn->server_conn);
  g_byte_array_unref (conn->up_framing.body);
  g_byte_array_unref (conn->down_framing.body);
  g_string_free (conn->pending, TRUE);
  g_free (conn);
}

static gpointer
accept_loop (gpointer data)
{
  RtProxy *proxy = data;
  g_autoptr (GSocketClient) connector = g_socket_client_new ();

  for (;;)
    {
      g_autoptr (GSocket) client = g_socket_accept (proxy->listener, proxy->cancellable, NULL);
      if (client == NULL)
        break;
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocketConnection) server
          = g_socket_client_connect (connector, proxy->server, proxy->cancellable, &error);
      if (server == NULL)
        {
          /* The client sees its connection closed: libpq reports that. */
          g_printerr ("rt-proxy: cannot reach the server: %s\n", error->message);
          continue;
        }
      Conn *conn = g_new0 (Conn, 1);
      conn->proxy = proxy;
      conn->client = g_steal_pointer (&client);
      conn->server_conn = g_steal_pointer (&server);
      conn->server = g_socket_connection_get_socket (conn->server_conn);
      /* Each chunk goes out as it came, at once (a Unix socket refuses). */
      g_socket_set_option (conn->client, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      g_socket_set_option (conn->server, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      conn->up_framing.body = g_byte_array_new ();
      conn->down_framing.body = g_byte_array_new ();
      conn->pending = g_string_new (NULL);
      g_mutex_lock (&proxy->lock);
      conn->index = proxy->n_accepted++;
      proxy->connections++;
      g_ptr_array_add (proxy->conns, conn);
      g_mutex_unlock (&proxy->lock);
      conn->up = g_thread_new ("rt-proxy-up", pump_up, conn);
      conn->down = g_thread_new ("rt-proxy-down", pump_down, conn);
    }
  return NULL;
}

/* ---------------------------------------------------------------- API */

RtProxy *
rt_proxy_new (const char *host, guint16 port, GError **error)
{
  g_autoptr (GSocket) listener
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (listener == NULL)
    return NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  if (!g_socket_bind (listener, any_port, TRUE, error) || !g_socket_listen (listener, error))
    return NULL;
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (listener, error);
  if (bound == NULL)
    return NULL;

  RtProxy *proxy = g_new0 (RtProxy, 1);
  proxy->listener = g_steal_pointer (&listener);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  if (host != NULL && host[0] == '/')
    {
      /* libpq's convention: a host starting with '/' is a socket folder. */
      g_autofree char *path = g_strdup_printf ("%s/.s.PGSQL.%u", host, port);
      proxy->server = G_SOCKET_CONNECTABLE (g_unix_socket_address_new (path));
    }
  else
    proxy->server = g_network_address_new (host != NULL && *host != '\0' ? host : "localhost", port);
  proxy->cancellable = g_cancellable_new ();
  /* RT_PROXY_HOLD_MS overrides; under valgrind a client is ~20× slower. */
  const char *hold = g_getenv ("RT_PROXY_HOLD_MS");
  guint64 hold_ms = g_getenv ("CARB_UNDER_VALGRIND") != NULL ? 200 : 10;
  if (hold != NULL && *hold != '\0')
    hold_ms = g_ascii_strtoull (hold, NULL, 10);
  proxy->hold_us = (gulong) (hold_ms * 1000);
  g_mutex_init (&proxy->lock);
  proxy->conns = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
  proxy->log = g_ptr_array_new_with_free_func (g_free);
  proxy->accept_thread = g_thread_new ("rt-proxy-accept", accept_loop, proxy);
  return proxy;
}

static char *
escape (const char *s)
{
  return g_uri_escape_string (s != NULL ? s : "", NULL, FALSE);
}

RtProxy *
rt_proxy_new_for_uri (const char *uri, char **proxy_uri, GError **error)
{
  PGconn *conn = PQconnectdb (uri);
  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                   "rt-proxy: cannot connect to the server to put a proxy in front of it: %s",
                   PQerrorMessage (conn));
      PQfinish (conn);
      return NULL;
    }
  g_autofree char *host = g_strdup (PQhost (conn));
  guint16 port = (guint16) g_ascii_strtoull (PQport (conn), NULL, 10);
  g_autofree char *db = escape (PQdb (conn));
  g_autofree char *user = escape (PQuser (conn));
  const char *pass = PQpass (conn);
  g_autofree char *password = pass != NULL && *pass != '\0' ? escape (pass) : NULL;
  PQfinish (conn);

  RtProxy *proxy = rt_proxy_new (host, port != 0 ? port : 5432, error);
  if (proxy == NULL)
    return NULL;
  *proxy_uri = g_strdup_printf ("postgresql://127.0.0.1:%u/%s?user=%s%s%s", proxy->port, db, user,
                                password != NULL ? "&password=" : "", password != NULL ? password : "");
  return proxy;
}

guint16
rt_proxy_get_port (RtProxy *proxy)
{
  return proxy->port;
}

void
rt_proxy_reset (RtProxy *proxy)
{
  g_mutex_lock (&proxy->lock);
  proxy->round_trips = proxy->syncs = proxy->connections = 0;
  g_ptr_array_set_size (proxy->log, 0);
  g_mutex_unlock (&proxy->lock);
}

static guint
read_count (RtProxy *proxy, const guint *count)
{
  g_mutex_lock (&proxy->lock);
  guint value = *count;
  g_mutex_unlock (&proxy->lock);
  return value;
}

guint
rt_proxy_get_round_trips (RtProxy *proxy)
{
  return read_count (proxy, &proxy->round_trips);
}

guint
rt_proxy_get_syncs (RtProxy *proxy)
{
  return read_count (proxy, &proxy->syncs);
}

guint
rt_proxy_get_connections (RtProxy *proxy)
{
  return read_count (proxy, &proxy->connections);
}

char *
rt_proxy_dup_log (RtProxy *proxy)
{
  g_mutex_lock (&proxy->lock);
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < proxy->log->len; i++)
    g_string_append_printf (out, "%s\n", (const char *) proxy->log->pdata[i]);
  g_mutex_unlock (&proxy->lock);
  return g_string_free (out, FALSE);
}

void
rt_proxy_free (RtProxy *proxy)
{
  if (proxy == NULL)
    return;
  g_cancellable_cancel (proxy->cancellable);
  g_thread_join (proxy->accept_thread);
  /* The accept thread is gone: nobody adds to conns any more. */
  g_ptr_array_unref (proxy->conns);
  g_ptr_array_unref (proxy->log);
  g_mutex_clear (&proxy->lock);
  g_object_unref (proxy->listener);
  g_object_unref (proxy->server);
  g_object_unref (proxy->cancellable);
  g_free (proxy);
}

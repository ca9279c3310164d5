/* A tiny in-process TCP proxy in front of a PostgreSQL server that counts
 * protocol round trips (tests/test-round-trips.c, issue #13).
 *
 * A round trip is a wait of the client for the server: it begins when the
 * client sends a Sync ('S') or a simple Query ('Q') while nothing it sent
 * before is still unanswered, and lasts until the server has answered every
 * Sync and Query sent meanwhile with a ReadyForQuery ('Z'). Three syncs
 * pipelined in one flush are one round trip; two PQexec() calls are two.
 * The count does not depend on how TCP cuts the bytes. It does not depend
 * on timing either, within limits: libpq flushes a pipeline at each
 * PQpipelineSync, so the server may answer its first part before the rest
 * arrives; the proxy therefore holds back an answer that would end a wait
 * for 10 ms (RT_PROXY_HOLD_MS; 200 ms under valgrind), and parts sent
 * within that time count with the wait they belong to. Each round trip
 * through the proxy is that much slower.
 *
 * The proxy answers SSLRequest and GSSENCRequest with 'N' itself (libpq's
 * sslmode=prefer then goes on in clear text), forwards everything else
 * unchanged, and reaches the server over TCP or a Unix socket. Counts are
 * totals over every connection made through the proxy since the last
 * rt_proxy_reset(), so one measure covers any number of calls, tables or
 * stores:
 *
 *   rt_proxy_reset (proxy);
 *   for (each table) carb_store_download_sync (store, …);
 *   g_assert_cmpuint (rt_proxy_get_round_trips (proxy), <=, bound);
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct RtProxy RtProxy;

/* Starts a proxy on 127.0.0.1 (a free port) in front of the server at
 * @host (a host name, an address, or the directory of a Unix socket, as
 * libpq's host) and @port. Returns (transfer full) (nullable): NULL with
 * @error set if it cannot listen. */
RtProxy *rt_proxy_new (const char *host, guint16 port, GError **error);

/* Starts a proxy in front of the server a libpq URI or conninfo names
 * (connecting once to learn host, port, database, user and password, as
 * libpq resolves them with its environment defaults). @proxy_uri
 * (out) (transfer full): a postgresql:// URI that reaches the same
 * database as the same user through the proxy. */
RtProxy *rt_proxy_new_for_uri (const char *uri, char **proxy_uri, GError **error);

guint16 rt_proxy_get_port (RtProxy *proxy);

/* Zeroes every count and the log; later waits count from here. */
void rt_proxy_reset (RtProxy *proxy);
/* Round trips since the last reset (see above). */
guint rt_proxy_get_round_trips (RtProxy *proxy);
/* Sync and Query messages since the last reset (≥ round trips). */
guint rt_proxy_get_syncs (RtProxy *proxy);
/* Connections accepted since the last reset. */
guint rt_proxy_get_connections (RtProxy *proxy);
/* (transfer full): one line per round trip since the last reset, naming its
 * messages, e.g. "1: P \"\" SELECT … | B \"carb_clock\" | E | S"; for test
 * messages when a bound fails. */
char *rt_proxy_dup_log (RtProxy *proxy);

/* Closes every connection and the listener, then frees the proxy. */
void rt_proxy_free (RtProxy *proxy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtProxy, rt_proxy_free)

G_END_DECLS

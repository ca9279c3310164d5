/* Carburetor — a bump allocator for the strings and bytes of decoded rows:
 * one malloc per 256 KiB instead of one per value, and one free for a whole
 * result.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

/* Below glibc's mmap threshold (128 KiB at start): blocks come from the
 * heap and are reused across syncs, instead of a fresh mmap and munmap,
 * with their page faults, per block. Measured on 1M-row SQLite syncs
 * (carburetor-bench --no-postgres): 256 KiB read 1.09–1.18x a user's
 * sqlite3_step + strdup loop buffered, 96 KiB 0.99–1.13x. */
#define ARENA_BLOCK_SIZE (96 * 1024)

typedef struct ArenaBlock ArenaBlock;
struct ArenaBlock
{
  ArenaBlock *next;
  gsize size;
  gsize used;
  guint8 data[];
};

struct _CarbArena
{
  ArenaBlock *head; /* the block being filled; older blocks follow */
};

CarbArena *
carb_arena_new (void)
{
  return g_new0 (CarbArena, 1);
}

void
carb_arena_free (CarbArena *arena)
{
  if (arena == NULL)
    return;
  for (ArenaBlock *b = arena->head, *next; b != NULL; b = next)
    {
      next = b->next;
      g_free (b);
    }
  g_free (arena);
}

/* Forgets every allocation but keeps the newest block for reuse. */
void
carb_arena_reset (CarbArena *arena)
{
  if (arena->head == NULL)
    return;
  for (ArenaBlock *b = arena->head->next, *next; b != NULL; b = next)
    {
      next = b->next;
      g_free (b);
    }
  arena->head->next = NULL;
  arena->head->used = 0;
}

guint8 *
carb_arena_alloc (CarbArena *arena, gsize len)
{
  ArenaBlock *b = arena->head;

  len = (len + 7) & ~(gsize) 7; /* keep every allocation 8-byte aligned */
  if (b == NULL || b->size - b->used < len)
    {
      gsize size = MAX (ARENA_BLOCK_SIZE, len);
      b = g_malloc (sizeof (ArenaBlock) + size);
      b->size = size;
      b->used = 0;
      b->next = arena->head;
      arena->head = b;
    }
  guint8 *p = b->data + b->used;
  b->used += len;
  return p;
}

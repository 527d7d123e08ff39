// SPDX-License-Identifier: MIT
/*
 * index.c: the kvstore's volatile hash index, kept in a dax_heap.
 *
 * The index maps a key to the log offset of its current record.  It is
 * volatile on purpose: the log is the truth, and the index is rebuilt from
 * it at every open (kvstore.c's recovery), so it can live in the cheapest
 * memory there is.  Here that is the region itself, through a heap
 * (dax_heap_create(3)): a jemalloc arena whose memory comes from the
 * region's block allocator, the way memkind puts a cache on persistent
 * memory.  Nothing in the heap survives a close, and nothing needs to.
 *
 * A fixed array of buckets (chained), sized from the caller's hint: the
 * example does not resize.  Buckets share a smaller array of mutexes
 * (bucket i uses lock i & lock_mask).  Every change of a key's record
 * happens under its bucket's lock, log append included (see kvstore.c):
 * that makes the log order of a key's records the order of its changes.
 */
#include <errno.h>
#include <string.h>

#include "kv_internal.h"

int index_init(struct kv_index *ix, struct dax_heap *heap, unsigned hint)
{
	uint64_t nb = 1024, nl;

	while (nb < (uint64_t)hint * 2 && nb < (UINT64_C(1) << 26))
		nb <<= 1;
	nl = nb < 4096 ? nb : 4096;
	ix->heap = heap;
	ix->bucket_mask = nb - 1;
	ix->lock_mask = nl - 1;
	atomic_store(&ix->nr_keys, 0);
	ix->buckets = dax_heap_calloc(heap, nb, sizeof(*ix->buckets));
	ix->locks = dax_heap_calloc(heap, nl, sizeof(*ix->locks));
	if (!ix->buckets || !ix->locks) {
		dax_heap_free(heap, ix->buckets);
		dax_heap_free(heap, ix->locks);
		return kv_fail_dax(-ENOMEM, "no heap memory for an index of "
				   "%llu buckets", (unsigned long long)nb);
	}
	for (uint64_t i = 0; i < nl; i++) {
		pthread_mutexattr_t a;

		/* Critical sections are short: spin a little before
		 * sleeping (a futex wake costs ~50 us on a busy VM). */
		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&ix->locks[i], &a);
		pthread_mutexattr_destroy(&a);
	}
	return 0;
}

/* Frees every item; the heap itself goes with the store. */
void index_destroy(struct kv_index *ix)
{
	if (!ix->buckets)
		return;
	for (uint64_t b = 0; b <= ix->bucket_mask; b++) {
		struct kv_item *it = ix->buckets[b], *next;

		for (; it; it = next) {
			next = it->next;
			dax_heap_free(ix->heap, it);
		}
	}
	for (uint64_t i = 0; i <= ix->lock_mask; i++)
		pthread_mutex_destroy(&ix->locks[i]);
	dax_heap_free(ix->heap, ix->buckets);
	dax_heap_free(ix->heap, ix->locks);
	ix->buckets = NULL;
	ix->locks = NULL;
}

/* FNV-1a, then a final mix so that the low bits (the bucket) are good. */
uint64_t index_hash(const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (klen--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

void index_lock(struct kv_index *ix, uint64_t hash)
{
	pthread_mutex_lock(&ix->locks[hash & ix->bucket_mask & ix->lock_mask]);
}

void index_unlock(struct kv_index *ix, uint64_t hash)
{
	pthread_mutex_unlock(&ix->locks[hash & ix->bucket_mask &
					ix->lock_mask]);
}

struct kv_item *index_find_locked(struct kv_index *ix, uint64_t hash,
				  const void *key, size_t klen)
{
	struct kv_item *it = ix->buckets[hash & ix->bucket_mask];

	for (; it; it = it->next)
		if (it->hash == hash && it->klen == klen &&
		    !memcmp(it->key, key, klen))
			return it;
	return NULL;
}

/*
 * An item for @key, not yet in the index.  Allocated before the record is
 * appended, so that running out of heap memory fails a put before it
 * reaches the log (a record in the log that the index missed would come
 * back at the next open).
 */
struct kv_item *index_new_item(struct kv_index *ix, uint64_t hash,
			       const void *key, size_t klen)
{
	struct kv_item *it = dax_heap_malloc(ix->heap, sizeof(*it) + klen);

	if (!it) {
		kv_fail(-ENOMEM, "no heap memory for a %zu-byte key", klen);
		return NULL;
	}
	memset(it, 0, sizeof(*it));
	it->hash = hash;
	it->klen = (uint16_t)klen;
	memcpy(it->key, key, klen);
	return it;
}

void index_free_item(struct kv_index *ix, struct kv_item *item)
{
	dax_heap_free(ix->heap, item);
}

void index_insert_locked(struct kv_index *ix, struct kv_item *item)
{
	struct kv_item **head = &ix->buckets[item->hash & ix->bucket_mask];

	item->next = *head;
	*head = item;
	atomic_fetch_add(&ix->nr_keys, 1);
}

/* Unlink @item; the caller frees it (index_free_item()). */
void index_remove_locked(struct kv_index *ix, struct kv_item *item)
{
	struct kv_item **pp = &ix->buckets[item->hash & ix->bucket_mask];

	while (*pp != item)
		pp = &(*pp)->next;
	*pp = item->next;
	atomic_fetch_sub(&ix->nr_keys, 1);
}

/*
 * Call @fn for each key, bucket by bucket under the bucket's lock (@fn
 * must not call back into the store for a key of the same lock).  Keys
 * added or removed meanwhile may or may not be seen.
 */
int index_for_each(struct kv_index *ix, kv_key_fn fn, void *priv)
{
	for (uint64_t b = 0; b <= ix->bucket_mask; b++) {
		pthread_mutex_t *l = &ix->locks[b & ix->lock_mask];
		int ret = 0;

		pthread_mutex_lock(l);
		for (struct kv_item *it = ix->buckets[b]; it && !ret;
		     it = it->next)
			ret = fn(priv, it->key, it->klen);
		pthread_mutex_unlock(l);
		if (ret)
			return ret;
	}
	return 0;
}

// Shared-memory mode: what one backend found out that the next one can use
// instead of finding it out again, kept in shared memory in lossy slot
// tables (src/core/lossy_slots.hpp, zechat_billing.max_counters slots each).
//
// pgbench, and an application that does not keep its connections, starts
// backends that meet every tenant anew: each read the tenant's terms from
// the configuration tables and looked up where its part of each key's
// usage is (two primary-key lookups, about 20k instructions each), as the
// backend before it had done just before.
//
// Hints, not truths: a slot holds the key last written to it, so entries
// get lost, and whoever takes one checks it first: a part's place by the
// tuple's xmin, the table's relfilenode and heap_update
// (own_usage_part.cpp), terms by the configuration changes counted since
// they were read (tenant_terms.cpp).  Each slot has its own spinlock, held
// only to copy the slot's bytes in or out.
#pragma once

#include "../core/tenant_key.hpp"
#include "pg_headers.hpp"
#include "stored_terms.hpp"

extern "C" {
#include "storage/itemptr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

// Called from _PG_init while shared_preload_libraries is processed.
void request_shared_hints();

bool shared_hints_available();

// Where the version of a backend's part that it last committed is
// (own_usage_part.cpp's PartLocation), for the next backend with the same
// BackendId.  Keys and hints are built zeroed (they are compared as bytes).
struct PartHintKey {
    Oid database;
    int32 writer;
    TimestampTz period_start;
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

struct PartHint {
    ItemPointerData tid;
    uint16 padding;
    TransactionId xmin;
    Oid relfilenode;           // billing.usage_parts' file: a rewrite moves rows
    uint64 published_next_xid; // the next full transaction id when published
};

bool find_part_hint(const PartHintKey& key, PartHint* hint);
void publish_part_hint(const PartHintKey& key, const PartHint& hint);

// A tenant's terms for one resource as the configuration tables held them,
// for every backend of the database (tenant_terms.cpp).
struct TermsHintKey {
    Oid database;
    Oid store; // billing.usage_parts: a re-created extension starts afresh
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

// When terms were read from the tables and shared: the configuration
// changes counted committed (config_change_counts.hpp) and the invalidations of
// configuration tables taken by any backend (which covers what commits
// without that count: DROP DATABASE, a sinval reset) when the reader
// checked what it keeps of the tables (tenant_terms.cpp), with no change
// committing then.  Terms are taken only under the stamp they were read
// under.
struct TermsStamp {
    uint64 changes_committed;
    uint64 invalidations;
};

// To be read before taking the invalidation messages and the count of
// changes: one taken by any backend after this read moves the number on,
// one taken before it is in the queue the caller reads next.
uint64 current_terms_invalidations();

// The key's terms, if read under `stamp`.
bool find_terms_hint(const TermsHintKey& key, const TermsStamp& stamp, StoredTerms* terms);
void publish_terms_hint(const TermsHintKey& key, const TermsStamp& stamp, const StoredTerms& terms);

// A backend took an invalidation of a configuration table, or a database
// is dropped (another may be created under its OID from a template holding
// other terms): every shared terms hint is out of date.
void count_terms_invalidation();

} // namespace zechat::billing::pg

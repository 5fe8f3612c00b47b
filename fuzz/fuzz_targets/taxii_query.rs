//! A TAXII query string and a JSON body: filters parsed, objects added to a collection store
//! and the query paged through; the body read as TAXII resources: no panic, each record
//! once. The check is in `fuzz/checks/taxii_query.rs`, replayed on stable by
//! `crates/taxii/tests/query_fuzz.rs`.
#![no_main]

#[path = "../checks/taxii_query.rs"]
mod taxii_query;

libfuzzer_sys::fuzz_target!(|data: &[u8]| taxii_query::taxii_query(data));

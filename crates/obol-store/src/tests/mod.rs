//! The storage suite, inside the crate because some scenarios plant rows with raw SQL (broken
//! ledgers for `verify`, callbacks from before a migration), which only the store can run.

mod store;

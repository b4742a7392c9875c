//! Integration tests over the real HTTP server, each run against SQLite and PostgreSQL.
//! One test binary, so it links once.

mod support;

mod accounts;
mod actions;
mod analytics;
mod browser;
mod chat;
mod cli;
mod compat;
mod ecosystem;
mod export;
mod isolation;
mod ops;
mod provider;
mod scale_out;
mod search;
mod store;
mod streaming;
mod validation;
mod workspace;

//! The integration tests: one binary (one link, one copy of the helpers) with a module per
//! area. Most start the application inside this process on port 0
//! ([`common::Server::start`]); a few run the `endocarp` binary because the process itself is
//! under test (SIGKILL, SIGTERM, the CLI, start-up refusals, per-process logs and metrics).
//! `tests/pg_restart.rs` stays a binary of its own: it stops the shared PostgreSQL cluster.

mod common;

mod api_admin;
mod api_input;
mod api_lookups;
mod architecture;
mod auth;
mod authzen;
mod casbin_cli;
mod casbin_traps;
mod cli;
mod constraints;
mod contract;
mod crash;
mod engines_agree;
mod explain_limit;
mod hostile;
mod index_v2;
mod lifecycle;
mod lookups;
mod net;
mod odrl_conformance;
mod ops;
mod properties;
mod repack;
mod replicas;
mod scenarios_e2e;
mod scenarios_engine;
mod staleness;
mod storage_conformance;
mod storage_faults;
mod tls;

//! Endocarp: an authorization-decision gRPC service.
//!
//! Other services ask one question many thousands of times a second: *may this agent
//! perform this action on this target (inside this account)?* Endocarp answers from an
//! in-memory index of permissions, prohibitions and role assignments that it projects
//! from **triple events**, the only source of truth.
//!
//! Module map (dependencies point down; see `ARCHITECTURE.md`):
//!
//! - [`grpc`]: transport. Protobuf types, the decision, event and admin services, the one
//!   error → status mapping. Only layer that knows protobuf.
//! - [`authzen`]: transport. The OpenID AuthZEN 1.0 HTTP+JSON API on its own listener,
//!   over the same use cases as the decision service; errors map through `grpc::status`.
//! - [`cli`]: the `endocarp` command line; a gRPC client of a running server.
//! - [`app`]: use cases (checks with consistency and staleness, commands, appends) and the
//!   projector that keeps the index current.
//! - [`engine`]: pure decisions over an immutable [`engine::Index`] snapshot.
//! - [`store`]: sqlx event store, read model and audit log. Only layer that knows SQL.
//! - [`domain`]: identifiers, actions, rules, events; parsed, never merely validated.
//! - [`odrl`]: ODRL policy documents (Turtle, JSON-LD) read into triple events.
//! - [`bench`]: the organisation generator and gRPC load driver of the benchmarks.
//! - [`startup`] wires everything; [`configuration`], [`telemetry`], [`metrics`] and
//!   [`ops`] (the plain-HTTP operations port) sit beside it.

pub mod alloc;
pub mod app;
pub mod authzen;
pub mod bench;
pub mod cli;
pub mod configuration;
pub mod domain;
pub mod engine;
pub mod grpc;
pub mod metrics;
pub mod odrl;
pub mod ops;
pub mod startup;
pub mod store;
pub mod telemetry;

/// The audit actor while no admin credentials are configured.
pub const LOCAL_ACTOR: &str = "local-unauthenticated";

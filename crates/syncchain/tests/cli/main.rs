//! The `syncchain` binary as a person runs it: help texts, start-up
//! refusals with one clear line, and the local servers `dev` and
//! `infra up` start on spare ports with a temporary dev folder (never the
//! machine's shared servers).

#![allow(clippy::unwrap_used)]

mod support;

mod dev;
mod help;
mod infra;
mod serve;

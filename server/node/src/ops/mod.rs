//! Operating a cluster: tablets that split on their own by size
//! ([`split`]).

pub mod split;

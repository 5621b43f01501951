//! # autoheal-docker
//! TODO: docker work (issue 3).

pub mod config;

//! Subcommand implementations of the binary (argument structs and printing only).

pub mod cite;
pub mod compare;
pub mod mvn;
pub mod normality;
pub mod report;
pub mod simulate;
pub mod verify;

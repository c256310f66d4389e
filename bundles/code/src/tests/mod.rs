//! Native tests of the whole state machine: a fake run feeds a [`State`](crate::State) through
//! `next`/`apply`, applying the changes and checking the rules after every step as loom does.

mod flow;
mod harness;
mod invariants;
mod loops;
mod manifest;

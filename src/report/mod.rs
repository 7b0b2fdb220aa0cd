//! What `status`, `audit` and `multiuser` report around the install, in text and JSON: the
//! kustomizations above it that deploy it and the overrides they apply ([`above`]), and what
//! cannot be switched with it: generated copies, remote KFP bases, template generators
//! ([`surroundings`]). Reads the checkout through [`crate::checkout`]; writes nothing.

pub mod above;
pub mod surroundings;

//! The runtime's integration tests, in one binary (faster to link on two cores).

mod support;
mod test_cache;
mod test_contract;
mod test_hostile;
mod test_kernel;
mod test_limits;
mod test_load;
mod test_versions;

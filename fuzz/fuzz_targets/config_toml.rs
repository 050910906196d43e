//! The configuration file: any text either fails to parse or gives a configuration whose
//! checks and derived values never panic, and whose printed form (`switchboard config
//! print`) parses back to a configuration that prints the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_server::Config;

fuzz_target!(|text: &str| {
    let Ok(config) = toml::from_str::<Config>(text) else {
        return;
    };
    let _ = config.validate();
    let _ = config.kernel_pool_targets();
    let _ = config.database_url();
    let _ = config.public_url();
    let _ = config.timeout_policy();
    let _ = config.advertised_address();
    let _ = config.node_name();
    let printed = config.to_masked_toml();
    let again: Config = toml::from_str(&printed)
        .unwrap_or_else(|e| panic!("the printed configuration does not parse: {e}\n{printed}"));
    assert_eq!(again.to_masked_toml(), printed);
});

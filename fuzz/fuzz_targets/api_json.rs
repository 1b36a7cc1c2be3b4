//! Request bodies: the API's JSON parser must turn any bytes into either a value or a
//! clean error naming a field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = koban_api::extract::parse_json::<koban_service::LoginRequest>(data);
    let _ = koban_api::extract::parse_json::<koban_service::NewUser>(data);
    let _ = koban_api::extract::parse_json::<koban_service::UnitPatch>(data);
    let _ = koban_api::extract::parse_json::<koban_service::AuditSearch>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = koban_api::extract::percent_decode(s);
    }
});

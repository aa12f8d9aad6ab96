//! NDJSON ingest parsing: any bytes give an event or a located error, never a panic; an
//! accepted event survives its own canonical bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

static CATALOGS: std::sync::OnceLock<annal_model::Catalogs> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalogs = CATALOGS.get_or_init(annal_model::Catalogs::builtin);
    let ctx = annal_model::IngestContext {
        catalogs,
        received_at: annal_model::Timestamp(1),
        created_at_max: None,
    };
    match annal_model::Event::from_json(data, &ctx) {
        Ok(event) => {
            let mut bytes = Vec::new();
            annal_model::encode_record(&event, &mut bytes);
            assert_eq!(annal_model::decode_record(&bytes).expect("own bytes decode"), event);
        }
        Err(e) => assert!(!e.problems.is_empty()),
    }
});

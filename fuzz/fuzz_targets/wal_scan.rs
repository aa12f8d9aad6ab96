//! Recovery of an arbitrary active-segment file: never panics, and what it accepts is
//! consistent (records inside the valid part, seqs dense from the base).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scan) = annal_storage::wal::scan(data) {
        assert!(scan.valid_end as usize <= data.len());
        let records: u64 = scan.batches.iter().map(|b| u64::from(b.count)).sum();
        assert_eq!(records as usize, scan.record_offsets.len());
        let mut seq = scan.base_seq;
        for b in &scan.batches {
            assert_eq!(b.first_seq, seq);
            seq += u64::from(b.count);
        }
        for off in &scan.record_offsets {
            assert!(annal_storage::wal::read_framed_record(data, *off as usize).is_ok());
        }
    }
});

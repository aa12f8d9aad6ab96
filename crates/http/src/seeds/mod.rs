//! The seed systems' routes over the same store, one module each, with its own parameters,
//! pagination and error shapes: the file-transfer audit API (`/api/Audit`), audit logs v2
//! (`/api/v2/audit_logs`) and audit events v1 (`/v1/audit/events`). Each maps its
//! parameters onto the query engine's filter builder.

pub(crate) mod audit_events_v1;
pub(crate) mod audit_logs_v2;
pub(crate) mod file_transfer;

pub(crate) use audit_events_v1::events_params;
pub(crate) use audit_logs_v2::logs_params;
pub(crate) use file_transfer::audit_params;

#[cfg(test)]
mod tests {
    use annal_model::{Catalogs, Timestamp};
    use annal_query::FilterBuilder;

    use crate::params::pairs;

    /// Found while writing the `http_query` fuzz target (which panics on it when built with
    /// overflow checks, `cargo fuzz build -a`): an end date on the last representable day (or
    /// its last nanosecond) overflowed adding the day (or the nanosecond) that makes it
    /// inclusive; release builds wrapped it to a time before 1970.
    #[test]
    fn an_end_on_the_last_representable_day_is_the_end_of_time() {
        let catalogs = Catalogs::builtin();
        let end_inclusive = |end: &str| {
            let mut b = FilterBuilder::new(&catalogs);
            b.to_inclusive("endDate", end).unwrap();
            b.build().unwrap().to.unwrap()
        };
        for end in ["2262-04-11", "2262-04-11T23:47:16.854775807Z"] {
            assert_eq!(end_inclusive(end), Timestamp(i64::MAX), "{end}");
        }
        let next_day = Timestamp::parse_date_or_time("2026-03-02").unwrap();
        assert_eq!(end_inclusive("2026-03-01"), next_day);
        // What `parse_route_query` runs for these two routes.
        let audit = pairs(Some("startDate=2262-04-10&endDate=2262-04-11")).unwrap();
        assert!(super::audit_params(&audit, &catalogs).is_ok(), "/api/Audit");
        let logs = "filter[created_at][]=2262-04-10&filter[created_at][]=2262-04-11";
        let logs = pairs(Some(logs)).unwrap();
        assert!(
            super::logs_params(&logs, &catalogs).is_ok(),
            "/api/v2/audit_logs"
        );
    }
}

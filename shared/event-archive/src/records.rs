//! The archive's objects: what SNS hands its Firehose subscriptions, one record per
//! message, and Firehose concatenates into an object (gzipped when the stream says so).
//! A record is SNS's notification envelope: the topic, the message (our event) and its
//! attributes (the `traceparent`), each followed by a newline.

use std::io::Read;

use serde_json::{Value, json};

use crate::Archived;

/// The events of one object and how many of its records could not be read as events
/// (another producer's, or cut short).
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// The events read, in the object's order.
    pub events: Vec<Archived>,
    /// How many records were not events.
    pub unreadable: usize,
    /// Each record's bytes with its newline, events and unreadable alike: Firehose bills
    /// ingestion by the record.
    pub record_bytes: Vec<usize>,
}

/// Reads an object's records, gunzipping it first if it is compressed.
pub fn decode(object: &[u8]) -> Result<Decoded, std::io::Error> {
    let mut text = Vec::new();
    if object.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(object).read_to_end(&mut text)?;
    } else {
        text.extend_from_slice(object);
    }
    let mut decoded = Decoded::default();
    let mut records = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
    let mut start = 0;
    while let Some(record) = records.next() {
        let Ok(record) = record else {
            // The rest of the object cannot be split into records any more: it counts as
            // one unreadable record, all of its bytes billed.
            decoded.record_bytes.push(text.len() - start);
            decoded.unreadable += 1;
            break;
        };
        let read = records.byte_offset();
        let end = text[read..].iter().position(|b| *b == b'\n').map_or(text.len(), |at| read + at + 1);
        decoded.record_bytes.push(end - start);
        start = end;
        match from_envelope(&record) {
            Some(archived) => decoded.events.push(archived),
            None => decoded.unreadable += 1,
        }
    }
    Ok(decoded)
}

fn from_envelope(record: &Value) -> Option<Archived> {
    let topic = record["TopicArn"].as_str()?.to_owned();
    let event = serde_json::from_str(record["Message"].as_str()?).ok()?;
    let traceparent = record["MessageAttributes"]["traceparent"]["Value"].as_str().map(str::to_owned);
    Some(Archived { topic, event, traceparent })
}

/// The records SNS would hand Firehose for these events: for tests that write an object
/// the way the delivery stream does.
pub fn encode(events: &[Archived]) -> Vec<u8> {
    let mut out = Vec::new();
    for archived in events {
        let mut attributes = serde_json::Map::new();
        if let Some(traceparent) = &archived.traceparent {
            attributes.insert("traceparent".into(), json!({ "Type": "String", "Value": traceparent }));
        }
        let envelope = json!({
            "Type": "Notification",
            "MessageId": uuid::Uuid::new_v4(),
            "TopicArn": archived.topic,
            "Message": serde_json::to_string(&archived.event).unwrap_or_default(),
            "Timestamp": archived.event.occurred_at,
            "MessageAttributes": attributes,
        });
        out.extend_from_slice(envelope.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::contract::event;

    #[test]
    fn an_object_of_envelopes_reads_back_as_its_events_plain_or_gzipped() {
        let events = vec![event("order-1", 0, None), event("order-1", 5, None)];
        let plain = encode(&events);
        let lines: Vec<usize> = plain.split_inclusive(|b| *b == b'\n').map(<[u8]>::len).collect();
        let decoded = decode(&plain).expect("reads");
        assert_eq!(decoded, Decoded { events: events.clone(), unreadable: 0, record_bytes: lines });
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&plain).expect("compresses");
        let gzipped = gzip.finish().expect("compresses");
        assert_eq!(decode(&gzipped).expect("reads").events, events);
    }

    #[test]
    fn records_that_are_no_event_are_counted_not_fatal() {
        let mut object = encode(&[event("order-1", 0, None)]);
        object.extend_from_slice(b"{\"Type\":\"Notification\",\"Message\":\"not an event\",\"TopicArn\":\"t\"}\n");
        object.extend_from_slice(&encode(&[event("order-1", 1, None)]));
        object.extend_from_slice(b"{\"cut short");
        let decoded = decode(&object).expect("reads");
        assert_eq!(decoded.events.len(), 2);
        assert_eq!(decoded.unreadable, 2);
        assert_eq!(decoded.record_bytes.iter().sum::<usize>(), object.len(), "every byte is in some record");
    }

    #[test]
    fn bytes_after_a_record_cut_short_are_billed_with_it() {
        let mut object = encode(&[event("order-1", 0, None)]);
        object.extend_from_slice(b"{\"cut short\n");
        object.extend_from_slice(&encode(&[event("order-1", 1, None)]));
        let decoded = decode(&object).expect("reads");
        assert_eq!((decoded.events.len(), decoded.unreadable), (1, 1), "the rest cannot be split");
        assert_eq!(decoded.record_bytes.iter().sum::<usize>(), object.len(), "every byte is in some record");
    }
}

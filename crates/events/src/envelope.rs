//! The envelope is what travels: the same JSON is stored in the outbox,
//! published to JetStream and read by consumers. The id doubles as the
//! `Nats-Msg-Id` (JetStream deduplication) and as the key of the consumers'
//! processed-event records, so it is fixed when the event is created, never
//! at publish time. Payloads are versioned types: a consumer decodes only
//! the exact type and version it was written for, and a mismatch is an
//! error it can park, not a silent misreading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// A domain event payload with its wire name and version.
pub trait Event: Serialize + DeserializeOwned {
    /// The event type, also the subject after the namespace: `users.registered`.
    const TYPE: &'static str;
    /// Bumped on any change a reader of the previous version would misread.
    const VERSION: u16;
}

/// One event as it is stored and published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u16,
    pub occurred_at: DateTime<Utc>,
    /// W3C trace context of the operation that caused the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: serde_json::Value,
}

/// An envelope whose payload is not the event a consumer asked for.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("expected event type {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("expected version {expected} of {event_type}, found version {found}")]
    WrongVersion {
        event_type: &'static str,
        expected: u16,
        found: u16,
    },
    #[error("payload of {event_type} does not match its type")]
    Payload {
        event_type: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Envelope {
    /// A new envelope for `event`, with a fresh time-ordered id.
    pub fn new<E: Event>(event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            version: E::VERSION,
            occurred_at: Utc::now(),
            traceparent: syncchain_platform::trace::traceparent(),
            payload: serde_json::to_value(event)?,
        })
    }

    /// The same envelope carrying the trace context of its cause.
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// The payload as `E`, when type and version are exactly `E`'s.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.event_type != E::TYPE {
            return Err(DecodeError::WrongType {
                expected: E::TYPE,
                found: self.event_type.clone(),
            });
        }
        if self.version != E::VERSION {
            return Err(DecodeError::WrongVersion {
                event_type: E::TYPE,
                expected: E::VERSION,
                found: self.version,
            });
        }
        E::deserialize(&self.payload).map_err(|source| DecodeError::Payload {
            event_type: E::TYPE,
            source,
        })
    }

    /// Whether this envelope carries an `E`, whatever its version.
    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE
    }

    /// The JSON bytes that are published.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads an envelope from published bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Shipped {
        parcel: u32,
    }
    impl Event for Shipped {
        const TYPE: &'static str = "parcels.shipped";
        const VERSION: u16 = 2;
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Other {}
    impl Event for Other {
        const TYPE: &'static str = "parcels.lost";
        const VERSION: u16 = 2;
    }

    #[test]
    fn an_envelope_survives_encoding_and_decoding() {
        let envelope = Envelope::new(&Shipped { parcel: 7 })
            .unwrap()
            .with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let bytes = envelope.to_json().unwrap();
        let back = Envelope::from_json(&bytes).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.decode::<Shipped>().unwrap(), Shipped { parcel: 7 });
    }

    #[test]
    fn the_wire_format_names_the_type_and_omits_a_missing_trace() {
        let envelope = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&envelope.to_json().unwrap()).unwrap();
        assert_eq!(value["type"], "parcels.shipped");
        assert_eq!(value["version"], 2);
        assert_eq!(value["payload"], json!({ "parcel": 1 }));
        assert!(value.get("traceparent").is_none());
        assert_eq!(value["id"], envelope.id.to_string());
    }

    #[test]
    fn new_envelopes_get_distinct_time_ordered_ids() {
        let a = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        let b = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.get_version_num(), 7);
    }

    #[test]
    fn decoding_as_another_type_is_refused() {
        let envelope = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        assert!(!envelope.is::<Other>());
        assert!(matches!(
            envelope.decode::<Other>(),
            Err(DecodeError::WrongType { expected: "parcels.lost", found }) if found == "parcels.shipped"
        ));
    }

    #[test]
    fn decoding_another_version_is_refused() {
        let mut envelope = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        envelope.version = 1;
        assert!(matches!(
            envelope.decode::<Shipped>(),
            Err(DecodeError::WrongVersion {
                expected: 2,
                found: 1,
                ..
            })
        ));
    }

    #[test]
    fn a_payload_that_does_not_match_its_type_is_refused() {
        let mut envelope = Envelope::new(&Shipped { parcel: 1 }).unwrap();
        envelope.payload = json!({ "parcel": "seven" });
        assert!(matches!(
            envelope.decode::<Shipped>(),
            Err(DecodeError::Payload { .. })
        ));
    }

    #[test]
    fn bytes_that_are_not_an_envelope_are_refused() {
        assert!(Envelope::from_json(b"not json").is_err());
        assert!(Envelope::from_json(br#"{"id":"x"}"#).is_err());
    }
}

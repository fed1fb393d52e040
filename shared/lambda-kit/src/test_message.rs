//! The message of the kit's own tests: a note, with an id and what it is about.

use messaging::Message;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub about: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("not a note: {0}")]
pub struct NotANote(#[from] serde_json::Error);

impl Note {
    pub fn new(text: &str) -> Self {
        Self::about(&Uuid::new_v4().to_string(), text)
    }

    pub fn about(about: &str, text: &str) -> Self {
        Self { id: Uuid::new_v4(), about: about.to_owned(), text: text.to_owned() }
    }

    /// The note that answers this one: its id follows from this one's, so answering again
    /// is the same note.
    pub fn answer(&self, text: &str) -> Self {
        Self { id: Uuid::from_u128(self.id.as_u128().rotate_left(1)), about: self.about.clone(), text: text.to_owned() }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Message for Note {
    type Invalid = NotANote;

    fn from_json(body: &str) -> Result<Self, NotANote> {
        Ok(serde_json::from_str(body)?)
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn kind(&self) -> &str {
        "Note"
    }

    fn version(&self) -> u32 {
        1
    }

    fn correlation_id(&self) -> &str {
        &self.about
    }
}

//! The subset of Mailpit's read API (`/api/v1/…`) that the email mock serves, with
//! Mailpit's field names, so that tools written for Mailpit can read its inboxes.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use super::email::{canonical_email_address, EmailMessage, EmailState};
use super::problem::{PathParam, Problem, QueryParams};

/// Default page size of the list and search endpoints, as in Mailpit.
const DEFAULT_LIMIT: usize = 50;

/// Maximum page size; larger `limit` values are lowered to it.
pub const MAX_MAILPIT_LIMIT: usize = 1_000;

/// Characters of the text that a summary's `Snippet` shows.
const SNIPPET_CHARS: usize = 250;

#[derive(Deserialize)]
pub(super) struct Page {
    start: Option<usize>,
    limit: Option<usize>,
}

impl Page {
    fn bounds(&self) -> (usize, usize) {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_MAILPIT_LIMIT);
        (self.start.unwrap_or(0), limit)
    }
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    query: Option<String>,
    start: Option<usize>,
    limit: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Address {
    name: String,
    address: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "MessageID")]
    message_id: String,
    read: bool,
    from: Address,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    reply_to: Vec<Address>,
    subject: String,
    created: String,
    tags: Vec<String>,
    size: usize,
    attachments: usize,
    snippet: String,
}

#[derive(Serialize)]
pub(super) struct SummaryList {
    total: usize,
    unread: usize,
    count: usize,
    messages_count: usize,
    start: usize,
    tags: Vec<String>,
    messages: Vec<Summary>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Message {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "MessageID")]
    message_id: String,
    from: Address,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    reply_to: Vec<Address>,
    return_path: String,
    subject: String,
    date: String,
    tags: Vec<String>,
    text: String,
    #[serde(rename = "HTML")]
    html: String,
    size: usize,
    inline: Vec<String>,
    attachments: Vec<String>,
}

fn from_address() -> Address {
    Address {
        name: "Account recovery".to_owned(),
        address: super::email::FROM_ADDRESS.to_owned(),
    }
}

fn to_addresses(message: &EmailMessage) -> Vec<Address> {
    vec![Address {
        name: String::new(),
        address: message.to.clone(),
    }]
}

fn message_id(message: &EmailMessage) -> String {
    format!("{}@mock.recoverylab.test", message.id)
}

fn size(message: &EmailMessage) -> usize {
    message.subject.len() + message.text.len()
}

fn summary(message: &EmailMessage) -> Summary {
    Summary {
        id: message.id.clone(),
        message_id: message_id(message),
        read: false,
        from: from_address(),
        to: to_addresses(message),
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: Vec::new(),
        subject: message.subject.clone(),
        created: message
            .received_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        tags: Vec::new(),
        size: size(message),
        attachments: 0,
        snippet: message.text.chars().take(SNIPPET_CHARS).collect(),
    }
}

fn summary_list(total: usize, start: usize, page: Vec<Arc<EmailMessage>>) -> SummaryList {
    SummaryList {
        total,
        unread: total,
        count: page.len(),
        messages_count: total,
        start,
        tags: Vec::new(),
        messages: page.iter().map(|message| summary(message)).collect(),
    }
}

/// `GET /api/v1/messages?start&limit`: every inbox, newest first.
pub(super) async fn list(
    State(state): State<EmailState>,
    QueryParams(page): QueryParams<Page>,
) -> Json<SummaryList> {
    let (start, limit) = page.bounds();
    let (total, messages) = state.newest(start, limit);
    Json(summary_list(total, start, messages))
}

/// `GET /api/v1/search?query=to:ADDRESS&start&limit`: one inbox, newest first.
pub(super) async fn search(
    State(state): State<EmailState>,
    QueryParams(query): QueryParams<SearchQuery>,
) -> Result<Json<SummaryList>, Problem> {
    let text = query.query.as_deref().unwrap_or("").trim();
    let Some(address) = text.strip_prefix("to:") else {
        return Err(Problem::invalid_request(
            "this mock supports only the search query `to:ADDRESS`, such as query=to:jane@example.org",
        ));
    };
    let address = canonical_email_address(address.trim_matches('"'))?;
    let page = Page {
        start: query.start,
        limit: query.limit,
    };
    let (start, limit) = page.bounds();
    let (total, messages) = state.inbox_newest(&address, start, limit);
    Ok(Json(summary_list(total, start, messages)))
}

/// `GET /api/v1/message/{ID}`: one message with its text.
pub(super) async fn message(
    State(state): State<EmailState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Message>, Problem> {
    let message = state.delivered(&id).ok_or_else(|| {
        Problem::not_found("no delivered message has this ID; the mock keeps the latest 100000")
    })?;
    Ok(Json(Message {
        id: message.id.clone(),
        message_id: message_id(&message),
        from: from_address(),
        to: to_addresses(&message),
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: Vec::new(),
        return_path: super::email::FROM_ADDRESS.to_owned(),
        subject: message.subject.clone(),
        date: message
            .received_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        tags: Vec::new(),
        text: message.text.clone(),
        html: String::new(),
        size: size(&message),
        inline: Vec::new(),
        attachments: Vec::new(),
    }))
}

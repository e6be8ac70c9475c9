//! Protobuf bytes → requests → domain values, as the gRPC edge does it: never a panic.
#![no_main]
use endocarp::grpc::{convert, pb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = pb::AppendEventsRequest::decode(data) {
        for (i, e) in req.events.into_iter().enumerate() {
            let _ = convert::new_event(i, e);
        }
    }
    if let Ok(req) = pb::IsAuthorizedInAccountRequest::decode(data) {
        let _ = endocarp::domain::Id::parse("agent_id", &req.agent_id);
        let _ = endocarp::domain::Id::parse("account_id", &req.account_id);
        let _ = endocarp::domain::Action::parse("action", &req.action);
        let _ = endocarp::domain::Id::parse("target", &req.target);
    }
    let _ = convert::decode_token::<5>(&String::from_utf8_lossy(data));
});

//! The full flow, as a merchant and a customer make it: create a Paymega invoice whose
//! `callback_url` is the benchmark's own receiver, open the hosted page and pay with the
//! sandbox's success card, read the invoice back (reconcile), refund it. Then the callback
//! latency: for each callback, the time from the answer of the request that caused it to its
//! arrival at the receiver.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};

use crate::error::BenchResult;
use crate::load::{self, Client, Failure, Workload, histogram, text_after};
use crate::receiver::Receiver;
use crate::scenarios::{Context, paymega_invoice};

/// The steps of one flow, in order.
pub const STEPS: [&str; 5] = ["create", "open page", "pay", "read back", "refund"];

/// Which answer a callback follows: the creation, the payment or the refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stage {
    Created,
    Paid,
    Refunded,
}

impl Stage {
    /// The stage a Paymega callback's `status` reports.
    fn of_status(status: &str) -> Stage {
        match status {
            "processed" => Stage::Paid,
            "refunded" | "partially_refunded" => Stage::Refunded,
            _ => Stage::Created,
        }
    }
}

/// An answer after which a callback is due.
pub struct Ack {
    payment_id: String,
    stage: Stage,
    at: Instant,
}

pub(crate) struct FullFlow {
    create_headers: Vec<(HeaderName, HeaderValue)>,
    read_headers: Vec<(HeaderName, HeaderValue)>,
    form_headers: Vec<(HeaderName, HeaderValue)>,
    callback_url: String,
    refund_body: Bytes,
}

impl FullFlow {
    pub fn new(context: &Context, receiver: &Receiver) -> FullFlow {
        FullFlow {
            create_headers: context.merchant_json(),
            read_headers: vec![(AUTHORIZATION, context.basic.clone())],
            form_headers: Context::form(),
            callback_url: receiver.url(),
            refund_body: Bytes::from_static(
                br#"{"data":{"type":"payment-invoices","attributes":{}}}"#,
            ),
        }
    }
}

/// Per step: the latencies of measured flows and the failures.
pub struct StepTally {
    pub latency: Histogram<u64>,
    pub failures: BTreeMap<Failure, u64>,
}

pub struct FlowState {
    connection: usize,
    index: u64,
    pub acks: Vec<Ack>,
    pub steps: Vec<StepTally>,
}

impl FlowState {
    /// Runs one step: times it (when measured) and counts its failure.
    async fn step<T>(
        &mut self,
        step: usize,
        measured: bool,
        run: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let started = Instant::now();
        let outcome = run.await;
        if !measured {
            return outcome;
        }
        if let Some(tally) = self.steps.get_mut(step) {
            match &outcome {
                Ok(_) => load::record(&mut tally.latency, started.elapsed()),
                Err(failure) => *tally.failures.entry(*failure).or_default() += 1,
            }
        }
        outcome
    }

    fn ack(&mut self, payment_id: &str, stage: Stage) {
        self.acks.push(Ack {
            payment_id: payment_id.to_owned(),
            stage,
            at: Instant::now(),
        });
    }
}

impl Workload for FullFlow {
    type State = FlowState;

    fn state(&self, connection: usize) -> BenchResult<FlowState> {
        Ok(FlowState {
            connection,
            index: 0,
            acks: Vec::new(),
            steps: STEPS
                .iter()
                .map(|_| {
                    Ok(StepTally {
                        latency: histogram()?,
                        failures: BTreeMap::new(),
                    })
                })
                .collect::<BenchResult<_>>()?,
        })
    }

    async fn iterate(
        &self,
        client: &mut Client,
        state: &mut FlowState,
        measured: bool,
    ) -> Option<Result<(), Failure>> {
        state.index += 1;
        Some(self.flow(client, state, measured).await)
    }
}

impl FullFlow {
    async fn flow(
        &self,
        client: &mut Client,
        state: &mut FlowState,
        measured: bool,
    ) -> Result<(), Failure> {
        let reference = format!("ff-{}-{}", state.connection, state.index);
        let body = paymega_invoice(&reference, Some(&self.callback_url));
        let request = load::request(
            Method::POST,
            "/api/payment-invoices",
            &self.create_headers,
            body,
        )?;
        let created = state
            .step(
                0,
                measured,
                client.expect(request, StatusCode::CREATED, None),
            )
            .await?;
        let id = text_after(&created.body, b"\"id\":\"cpi_", b'"')
            .map(|rest| format!("cpi_{rest}"))
            .ok_or(Failure::Body(created.status.as_u16()))?;
        state.ack(&id, Stage::Created);

        let request = load::request(Method::GET, &format!("/hpp/?cpi={id}"), &[], Bytes::new())?;
        let page = state
            .step(1, measured, client.expect(request, StatusCode::OK, None))
            .await?;
        let csrf = text_after(&page.body, b"name=\"csrf_token\" value=\"", b'"')
            .ok_or(Failure::Body(page.status.as_u16()))?;
        let form = serde_urlencoded::to_string([
            ("csrf_token", csrf),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/30"),
            ("card_cvv", "123"),
            ("card_holder", "Bench Customer"),
        ])
        .map_err(|_| Failure::Request)?;
        let request = load::request(
            Method::POST,
            &format!("/hpp/pay?cpi={id}"),
            &self.form_headers,
            form,
        )?;
        state
            .step(
                2,
                measured,
                client.expect(request, StatusCode::SEE_OTHER, None),
            )
            .await?;
        state.ack(&id, Stage::Paid);

        let path = format!("/api/payment-invoices/{id}");
        let request = load::request(Method::GET, &path, &self.read_headers, Bytes::new())?;
        state
            .step(
                3,
                measured,
                client.expect(request, StatusCode::OK, Some(b"\"status\":\"processed\"")),
            )
            .await?;

        let request = load::request(
            Method::POST,
            &format!("{path}/refund"),
            &self.create_headers,
            self.refund_body.clone(),
        )?;
        state
            .step(
                4,
                measured,
                client.expect(request, StatusCode::OK, Some(b"\"status\":\"refunded\"")),
            )
            .await?;
        state.ack(&id, Stage::Refunded);
        Ok(())
    }
}

/// How late callbacks arrived after the answers that caused them.
pub struct CallbackLatency {
    /// Answers after which a callback was due (every flow's, warm-up included).
    pub expected: u64,
    /// Of those, how many callbacks arrived.
    pub received: u64,
    /// Callbacks that matched no due one, or repeated one already received (delivery is at
    /// least once).
    pub extra: u64,
    /// Requests whose body was not a Paymega callback.
    pub unreadable: u64,
    pub latency: Histogram<u64>,
    /// How long the stragglers were waited for after the load stopped.
    pub waited: Duration,
    /// Callbacks received per second, from the first arrival to the last: the delivery
    /// worker's pace (it keeps up only at three times the flows' rate).
    pub per_second: f64,
}

/// Matches what the receiver got with `acks`, waiting up to `wait_max` for the rest.
pub async fn callback_latency(
    receiver: &Receiver,
    acks: Vec<Ack>,
    wait_max: Duration,
) -> BenchResult<CallbackLatency> {
    let mut due: HashMap<(String, Stage), Instant> = HashMap::with_capacity(acks.len());
    for ack in acks {
        due.insert((ack.payment_id, ack.stage), ack.at);
    }
    let expected = due.len() as u64;
    let mut matched: HashSet<(String, Stage)> = HashSet::with_capacity(due.len());
    let mut latency = histogram()?;
    let mut extra = 0;
    let mut seen = 0;
    let mut span: Option<(Instant, Instant)> = None;
    let started = Instant::now();
    loop {
        let arrivals = receiver.arrivals_since(seen);
        seen += arrivals.len();
        for arrival in arrivals {
            let key = (arrival.payment_id, Stage::of_status(&arrival.status));
            match due.get(&key) {
                Some(acknowledged) if !matched.contains(&key) => {
                    load::record(
                        &mut latency,
                        arrival.at.saturating_duration_since(*acknowledged),
                    );
                    matched.insert(key);
                    span = Some(span.map_or((arrival.at, arrival.at), |(first, last)| {
                        (first.min(arrival.at), last.max(arrival.at))
                    }));
                }
                _ => extra += 1,
            }
        }
        if matched.len() as u64 >= expected || started.elapsed() >= wait_max {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = matched.len() as u64;
    let per_second = span
        .map(|(first, last)| (last - first).as_secs_f64())
        .filter(|seconds| *seconds > 0.0)
        .map_or(0.0, |seconds| received as f64 / seconds);
    Ok(CallbackLatency {
        expected,
        received,
        per_second,
        extra,
        unreadable: receiver.unreadable(),
        latency,
        waited: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_match_the_answer_that_caused_them() {
        assert_eq!(Stage::of_status("process_pending"), Stage::Created);
        assert_eq!(Stage::of_status("processed"), Stage::Paid);
        assert_eq!(Stage::of_status("refunded"), Stage::Refunded);
        assert_eq!(Stage::of_status("partially_refunded"), Stage::Refunded);
    }
}

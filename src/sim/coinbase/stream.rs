//! The WebSocket side of the local Coinbase: subscriptions per channel and product,
//! snapshots of the venue's current state for late subscribers, the recorded messages
//! renumbered per connection, heartbeats, and the switches' faults (dropped
//! connections, skipped sequence numbers, withheld snapshots).

use super::*;

impl CoinbaseSim {
    pub(super) async fn stream(self: Arc<Self>, mut ws: ServerWs) {
        let connection = {
            let mut st = self.lock();
            st.connections += 1;
            st.connections
        };
        let mut subscribed: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        let mut sequence = 0u64;
        let mut sent_here = 0u64;
        let mut last_heartbeat = tokio::time::Instant::now();
        let opened = tokio::time::Instant::now();
        let mut withholding = false;
        let mut heartbeats = 0u64;
        let mut settled = false;
        loop {
            let msg = if settled {
                ws.next().now_or_never().flatten()
            } else if subscribed.is_empty() {
                ws.next().await
            } else {
                match tokio::time::timeout(SUBSCRIBE_SETTLE, ws.next()).await {
                    Ok(m) => m,
                    Err(_) => {
                        settled = true;
                        continue;
                    }
                }
            };
            match msg {
                Some(Ok(WsMessage::Text(t))) => {
                    self.client_messages
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(t.to_string());
                    let Ok(req) = serde_json::from_str::<Value>(&t) else {
                        continue;
                    };
                    let channel = req["channel"].as_str().unwrap_or_default().to_owned();
                    let products: Vec<String> = req["product_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect();
                    let set = subscribed.entry(channel.clone()).or_default();
                    if req["type"] == "unsubscribe" {
                        products.iter().for_each(|p| {
                            set.remove(p);
                        });
                        continue;
                    }
                    set.extend(products.iter().cloned());
                    let confirm = json!({"channel": "subscriptions", "timestamp": self.lock().timestamp, "sequence_num": 0,
                        "events": [{"subscriptions": subscribed.iter().map(|(c, ps)| (c.clone(), ps.iter().cloned().collect::<Vec<_>>())).collect::<BTreeMap<_, _>>()}]});
                    let mut replies = vec![confirm];
                    if channel == "level2" {
                        withholding = self.withhold(products.len());
                    }
                    if !(channel == "level2" && withholding) {
                        replies.extend(self.snapshots(&channel, &products));
                    }
                    for r in replies {
                        if ws
                            .send(WsMessage::text(renumber(&r.to_string(), sequence)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        sequence += 1;
                    }
                    continue;
                }
                Some(Ok(WsMessage::Close(_)) | Err(_)) => return,
                Some(Ok(_)) => continue,
                None if !settled => return,
                None => {}
            }
            if self.switches.drop_after_frames.is_some_and(|n| sent_here >= n)
                || self.switches.drop_every.is_some_and(|d| opened.elapsed() >= d)
            {
                return;
            }
            let next = {
                let mut st = self.lock();
                match self.frames.get(st.cursor) {
                    None => None,
                    Some(frame) => {
                        // A gap in the recording's numbers stays a gap (unless renumbering):
                        // only messages not subscribed here are left out of the count.
                        let previous = st.cursor.checked_sub(1).and_then(|i| self.frames[i].sequence_num);
                        if let (false, Some(prev), Some(now)) =
                            (self.switches.renumber, previous, frame.sequence_num)
                        {
                            sequence += now.saturating_sub(prev + 1).min(1_000_000);
                        }
                        st.cursor += 1;
                        Self::advance(&mut st, frame);
                        let wanted = match frame.channel.as_str() {
                            "l2_data" => Some("level2"),
                            "market_trades" => Some("market_trades"),
                            "heartbeats" => Some("heartbeats"),
                            _ => None,
                        };
                        let wanted = wanted.and_then(|c| subscribed.get(c)).is_some_and(|ps| {
                            frame.channel == "heartbeats"
                                || ps
                                    .iter()
                                    .any(|p| frame.text.contains(&format!("\"product_id\":\"{p}\"")))
                        });
                        // A withheld subscription gets no recorded snapshot either.
                        let withheld = withholding
                            && frame.channel == "l2_data"
                            && frame.text.contains("\"type\":\"snapshot\"");
                        Some((wanted && !withheld).then(|| frame.text.clone()))
                    }
                }
            };
            match next {
                Some(Some(text)) => {
                    if ws.send(WsMessage::text(renumber(&text, sequence))).await.is_err() {
                        return;
                    }
                    sequence += 1;
                    if connection == 1 && self.switches.skip_sequence_after == Some(sent_here) {
                        sequence += 1;
                    }
                    if self
                        .switches
                        .skip_sequence_every
                        .is_some_and(|k| k > 0 && sent_here % k == k - 1)
                    {
                        sequence += 1;
                    }
                    sent_here += 1;
                }
                Some(None) => {}
                // Played out: as the venue does, a heartbeat every second keeps the
                // connection alive.
                None if subscribed.contains_key("heartbeats")
                    && last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL =>
                {
                    last_heartbeat = tokio::time::Instant::now();
                    heartbeats += 1;
                    let now = self.lock().timestamp.clone();
                    let beat = json!({"channel": "heartbeats", "client_id": "", "timestamp": now,
                        "sequence_num": sequence, "events": [{"current_time": now, "heartbeat_counter": heartbeats}]});
                    if ws.send(WsMessage::text(beat.to_string())).await.is_err() {
                        return;
                    }
                    sequence += 1;
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

//! The demo's living command room: patrol cars driving around central Tokyo and a stream
//! of synthetic 110 calls that are recommended, dispatched, attended and closed — all
//! through the same service methods (and audit) as real users, logged on as the demo's
//! `simulator` account.

use std::time::Duration;

use koban_dispatch::{AssignmentStep, UnitKind, UnitStatus};
use koban_service::fleet::{NewDispatchUnit, PositionReport};
use koban_service::incidents::{NewCall, NewIncidentIn, PointIn, TransitionIn};
use koban_service::{Koban, LoginRequest, RequestCtx, ServiceError};

use crate::demo::{SIM_CALL_EVERY_S, SIM_UNITS};

/// Seconds between position reports.
const TICK_S: u64 = 5;
/// Patrol speed, metres per tick (about 30 km/h).
const STEP_M: f64 = 42.0;
/// Seconds a unit spends on scene before clearing.
const ON_SCENE_S: i64 = 90;
/// The patrolled area: the synthetic road grid around Tokyo Station.
const CENTRE: (f64, f64) = (35.68, 139.76);
const HALF_SPAN_DEG: (f64, f64) = (0.025, 0.03);

struct Car {
    id: String,
    pos: (f64, f64),
    target: (f64, f64),
    job: Option<Job>,
}

struct Job {
    incident_id: String,
    on_scene_since_us: Option<i64>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
    fn point(&mut self) -> (f64, f64) {
        (
            CENTRE.0 + (self.next() * 2.0 - 1.0) * HALF_SPAN_DEG.0,
            CENTRE.1 + (self.next() * 2.0 - 1.0) * HALF_SPAN_DEG.1,
        )
    }
}

/// Moves `pos` toward `target` along the grid (first north-south, then east-west), so
/// cars follow streets rather than cutting through blocks.
fn step(pos: (f64, f64), target: (f64, f64)) -> ((f64, f64), bool) {
    let m_per_deg_lat = 111_000.0;
    let m_per_deg_lon = 111_000.0 * pos.0.to_radians().cos();
    let dlat_m = (target.0 - pos.0) * m_per_deg_lat;
    if dlat_m.abs() > 1.0 {
        let mv = dlat_m.clamp(-STEP_M, STEP_M);
        return ((pos.0 + mv / m_per_deg_lat, pos.1), false);
    }
    let dlon_m = (target.1 - pos.1) * m_per_deg_lon;
    if dlon_m.abs() > 1.0 {
        let mv = dlon_m.clamp(-STEP_M, STEP_M);
        return ((target.0, pos.1 + mv / m_per_deg_lon), false);
    }
    (target, true)
}

async fn login(koban: &Koban, user: &str, password: &str, secret: &str) -> Option<String> {
    let secret = koban_auth::totp::TotpSecret::from_base32(secret).ok()?;
    for _ in 0..3 {
        let code = koban_auth::totp::totp_code(&secret, koban.now_us() / 1_000_000);
        let req = LoginRequest {
            username: user.into(),
            password: password.into(),
            totp_code: code,
            terminal_key: None,
        };
        match koban.login(&RequestCtx::default(), req).await {
            Ok(r) => return Some(r.token),
            Err(e) => {
                tracing::warn!(error = %e, "simulator logon failed; retrying after the next TOTP step");
                tokio::time::sleep(Duration::from_secs(31)).await;
            }
        }
    }
    None
}

pub async fn run(koban: Koban, user: String, password: String, secret: String) {
    let Some(mut token) = login(&koban, &user, &password, &secret).await else {
        tracing::error!("the simulator could not log on; no simulation");
        return;
    };
    let ctx = RequestCtx {
        client_addr: Some("demo-simulator".into()),
        ..Default::default()
    };
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let stations = ["st-13-marunouchi", "st-13-kojimachi"];
    let mut cars = Vec::new();
    for i in 0..SIM_UNITS {
        let id = format!("sim-{:02}", i + 1);
        let new = NewDispatchUnit {
            id: id.clone(),
            kind: UnitKind::PatrolCar,
            capabilities: if i % 2 == 0 {
                ["traffic".to_string()].into()
            } else {
                Default::default()
            },
            crew_count: 2,
            home_station_id: stations[i % stations.len()].into(),
            status: UnitStatus::OnPatrol,
        };
        match koban.create_dispatch_unit(&ctx, &token, new).await {
            Ok(_) | Err(ServiceError::Conflict { .. }) => {}
            Err(e) => tracing::warn!(error = %e, unit = %id, "simulator could not register a unit"),
        }
        let p = rng.point();
        cars.push(Car {
            id,
            pos: p,
            target: rng.point(),
            job: None,
        });
    }
    let types = [
        "traffic_accident",
        "theft",
        "noise",
        "suspicious_person",
        "assault",
        "lost_child",
    ];
    let mut ticks_to_call = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(TICK_S)).await;
        let now = koban.now_us();
        for car in &mut cars {
            let (p, arrived) = step(car.pos, car.target);
            car.pos = p;
            if arrived {
                match &mut car.job {
                    Some(job) if job.on_scene_since_us.is_none() => {
                        let _ = koban
                            .advance_assignment(
                                &ctx,
                                &token,
                                &job.incident_id,
                                &car.id,
                                AssignmentStep::OnScene,
                            )
                            .await;
                        job.on_scene_since_us = Some(now);
                    }
                    Some(_) => {}
                    None => car.target = rng.point(),
                }
            }
        }
        // Clear and close incidents whose car has been on scene long enough.
        for car in &mut cars {
            let done = car.job.as_ref().is_some_and(|j| {
                j.on_scene_since_us
                    .is_some_and(|t| now - t > ON_SCENE_S * 1_000_000)
            });
            if let (true, Some(job)) = (done, car.job.take()) {
                let _ = koban
                    .advance_assignment(
                        &ctx,
                        &token,
                        &job.incident_id,
                        &car.id,
                        AssignmentStep::Cleared,
                    )
                    .await;
                for (cmd, disposition) in
                    [("clear", None), ("close", Some("report_taken".to_string()))]
                {
                    let t = TransitionIn {
                        command: cmd.into(),
                        disposition,
                        note: "simulated".into(),
                    };
                    let _ = koban
                        .transition_incident(&ctx, &token, &job.incident_id, t)
                        .await;
                }
                car.target = rng.point();
            }
        }
        let at = koban_service::clock::rfc3339(now);
        let reports = cars
            .iter()
            .map(|c| PositionReport {
                unit_id: c.id.clone(),
                lat: c.pos.0,
                lon: c.pos.1,
                at: at.clone(),
                // The server derives the heading from the previous fix.
                heading_deg: None,
                speed_kmh: None,
            })
            .collect();
        if let Err(e) = koban.report_positions(&ctx, &token, reports).await {
            if matches!(e, ServiceError::Unauthenticated { .. }) {
                match login(&koban, &user, &password, &secret).await {
                    Some(t) => token = t,
                    None => return,
                }
            } else {
                tracing::warn!(error = %e, "simulated positions refused");
            }
            continue;
        }
        if ticks_to_call > 0 {
            ticks_to_call -= 1;
            continue;
        }
        ticks_to_call = SIM_CALL_EVERY_S / TICK_S;
        let place = rng.point();
        let kind = types[(rng.next() * types.len() as f64) as usize % types.len()];
        let call = NewCall {
            caller_number: Some(format!(
                "090-{:04}-{:04}",
                (rng.next() * 9999.0) as u32,
                (rng.next() * 9999.0) as u32
            )),
            received_at: None,
            answered_at: None,
            caller_location: Some(PointIn {
                lat: place.0,
                lon: place.1,
                radius_m: 50.0,
            }),
            language: "ja".into(),
            statement: "（訓練）通報内容".into(),
            type_code: Some(kind.into()),
        };
        let Ok(call) = koban.create_call(&ctx, &token, call).await else {
            continue;
        };
        let incident = NewIncidentIn {
            type_code: kind.into(),
            priority: None,
            location: PointIn {
                lat: place.0,
                lon: place.1,
                radius_m: 0.0,
            },
            narrative: "（訓練）シミュレーションによる事案".into(),
            cautions: Default::default(),
            call_ids: vec![call.call.id.clone()],
        };
        let Ok(inc) = koban.create_incident(&ctx, &token, incident).await else {
            continue;
        };
        let Ok(rec) = koban
            .recommend_units(&ctx, &token, &inc.incident.id, None)
            .await
        else {
            continue;
        };
        let free = rec
            .recommendation
            .ranked
            .iter()
            .find(|r| cars.iter().any(|c| c.id == r.unit_id && c.job.is_none()));
        if let Some(best) = free {
            let unit_id = best.unit_id.clone();
            if koban
                .dispatch_units(&ctx, &token, &inc.incident.id, vec![unit_id.clone()])
                .await
                .is_ok()
            {
                let _ = koban
                    .advance_assignment(
                        &ctx,
                        &token,
                        &inc.incident.id,
                        &unit_id,
                        AssignmentStep::EnRoute,
                    )
                    .await;
                if let Some(car) = cars.iter_mut().find(|c| c.id == unit_id) {
                    car.target = place;
                    car.job = Some(Job {
                        incident_id: inc.incident.id.clone(),
                        on_scene_since_us: None,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cars_follow_the_grid_and_arrive() {
        let mut pos = (35.68, 139.76);
        let target = (35.683, 139.765);
        let mut steps = 0;
        loop {
            let (p, arrived) = step(pos, target);
            // Each move changes one coordinate only: along a street.
            assert!(p.0 == pos.0 || p.1 == pos.1 || arrived);
            pos = p;
            steps += 1;
            if arrived {
                break;
            }
            assert!(steps < 1000);
        }
        assert_eq!(pos, target);
    }
}

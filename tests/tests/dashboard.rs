//! What `template.yaml` gives the operator to look at and to be told: the CloudWatch dashboard
//! shows every metric the functions emit (the table in `shared/runtime/src/metrics.rs`), and every
//! alarm notifies the topic the stack names — `AlarmTopicArn`, else the one `AlarmEmail` makes.

const TEMPLATE: &str = include_str!("../../template.yaml");
const METRICS: &str = include_str!("../../shared/runtime/src/metrics.rs");

/// The metric names of the metrics module's table (`//! | \`Syncs\` | Count | …`).
fn emitted() -> Vec<&'static str> {
    let rows = METRICS.lines().filter(|l| l.starts_with("//! | `"));
    let cells = rows.filter_map(|row| row.split('|').nth(1));
    let names = cells.flat_map(|cell| cell.split(','));
    names.map(|name| name.trim().trim_matches('`')).collect()
}

/// The template's resource `name`: its lines up to the next resource (or section).
fn resource(name: &str) -> String {
    let mut lines = TEMPLATE.lines().skip_while(|l| *l != format!("  {name}:"));
    let first = lines.next().unwrap_or_else(|| panic!("no resource {name}"));
    let rest = lines.take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"));
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_dashboard_shows_every_metric_the_functions_emit() {
    let names = emitted();
    assert!(names.len() >= 10, "{names:?}");
    let dashboard = resource("Dashboard");
    assert!(
        dashboard.contains("Type: AWS::CloudWatch::Dashboard"),
        "{dashboard}"
    );
    for name in names {
        let shown = dashboard.contains(&format!("\"{name}\""))
            || dashboard.contains(&format!("MetricName=\\\"{name}\\\""));
        assert!(shown, "{name} is emitted but not on the dashboard");
    }
    assert!(dashboard.contains("\"p99\""), "latency percentiles");
}

#[test]
fn every_alarm_notifies_the_given_topic_else_the_one_alarm_email_makes() {
    let alarms = TEMPLATE.matches("Type: AWS::CloudWatch::Alarm").count();
    assert!(alarms >= 6, "{alarms}");
    let notify = "AlarmActions: !If [UseGivenTopic, [!Ref AlarmTopicArn], !If [CreateAlarmTopic, \
                  [!Ref AlarmTopic], !Ref AWS::NoValue]]";
    assert_eq!(TEMPLATE.matches(notify).count(), alarms);
    let topic = resource("AlarmTopic");
    assert!(topic.contains("Condition: CreateAlarmTopic"), "{topic}");
    assert!(topic.contains("Endpoint: !Ref AlarmEmail"), "{topic}");
    assert!(topic.contains("Protocol: email"), "{topic}");
    // An existing topic wins: no second topic is made when one is given.
    assert!(
        TEMPLATE.contains("- !Equals [!Ref AlarmTopicArn, \"\"]"),
        "CreateAlarmTopic requires AlarmTopicArn empty"
    );
}

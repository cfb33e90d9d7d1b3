//! The test setup's promise: DynamoDB semantics come from a real DynamoDB-compatible server
//! (moto), so condition expressions, GSIs and TTL behave as in AWS, not as a fake imagines them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

#[tokio::test]
async fn moto_enforces_condition_expressions() {
    let db = cosell_testkit::dynamodb().await;
    let table = cosell_testkit::unique_table("smoke");
    db.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table on moto");

    let put_once = || {
        db.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("lease#retry".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put_once().await.expect("first conditional put");
    let second = put_once()
        .await
        .expect_err("second conditional put must lose");
    let service_error = second.into_service_error();
    assert!(
        service_error.is_conditional_check_failed_exception(),
        "{service_error:?}"
    );
}

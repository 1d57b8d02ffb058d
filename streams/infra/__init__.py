"""The local stack without Docker: Apache Kafka (KRaft) and Apicurio Registry from Maven Central jars."""

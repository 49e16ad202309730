output "api_url" {
  description = "The API's URL: open the page with `?api=<this>` and accept it, or paste it under API settings."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "artifacts_bucket" {
  value = aws_s3_bucket.artifacts.bucket
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letters.url
}

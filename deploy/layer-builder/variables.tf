variable "aws_region" {
  type    = string
  default = "eu-central-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "layer-builder"
}

variable "catalog_path" {
  description = "The catalog `pants publish` wrote, with the `layer-builder-api` and `layer-builder-worker` artifacts."
  type        = string
  default     = "../../builds/catalog.json"
}

variable "artifact_ttl_hours" {
  description = "How long builds and their zips are kept (S3 expires objects in whole days, rounded up)."
  type        = number
  default     = 24
}

variable "download_url_minutes" {
  description = "How long a presigned download URL works."
  type        = number
  default     = 60
}

variable "allowed_origins" {
  description = "Origins allowed to call the API from a browser (the page's origin)."
  type        = list(string)
  default     = ["*"]
}

variable "index_url" {
  description = "The package index the worker builds from."
  type        = string
  default     = "https://pypi.org/simple/"
}

variable "worker_memory_mb" {
  description = "The worker's memory; Lambda gives CPU in proportion (1,769 MB is one vCPU)."
  type        = number
  default     = 3008
}

variable "worker_timeout_seconds" {
  type    = number
  default = 900
}

variable "max_receives" {
  description = "Attempts per build before its message goes to the dead-letter queue and the build is FAILED."
  type        = number
  default     = 3
}

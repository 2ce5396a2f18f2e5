variable "project_id" {
  description = "Google Cloud project that holds the cluster."
  type        = string
}

variable "cluster" {
  description = "Name of the existing GKE cluster the node pools join."
  type        = string
}

variable "location" {
  description = "The cluster's location: a region for a regional cluster (each pool picks its zones)."
  type        = string
}

variable "node_service_account" {
  description = "Email of a least-privilege service account for the nodes (not the Compute Engine default)."
  type        = string
}

variable "platform_region" {
  description = "The platform region (a, b) this cluster serves: its inference nodes carry resilience.dev/region=<it>."
  type        = string

  validation {
    condition     = can(regex("^[a-z]$", var.platform_region))
    error_message = "platform_region is one lowercase letter, as the platform names regions (a, b)."
  }
}

variable "inference_zones" {
  description = "Zones of the on-demand inference pool (two or more: a zone outage leaves the region serving)."
  type        = list(string)

  validation {
    condition     = length(var.inference_zones) > 0
    error_message = "Give at least one zone for the inference pool."
  }
}

variable "inference_min_nodes" {
  description = "Fewest inference nodes in the cluster: a region never scales to zero."
  type        = number
  default     = 1

  validation {
    condition     = var.inference_min_nodes >= 1
    error_message = "inference_min_nodes must be at least 1."
  }
}

variable "inference_max_nodes" {
  description = "Most inference nodes in the cluster."
  type        = number
  default     = 4
}

variable "inference_machine_type" {
  description = "Machine type of the inference nodes (G2 carries NVIDIA L4s)."
  type        = string
  default     = "g2-standard-8"
}

variable "inference_accelerator" {
  description = "GPU type and count per inference node."
  type = object({
    type  = string
    count = number
  })
  default = {
    type  = "nvidia-l4"
    count = 1
  }

  validation {
    condition     = var.inference_accelerator.count >= 1
    error_message = "An inference node needs at least one GPU."
  }
}

variable "training_enabled" {
  description = "Whether this cluster gets the spot training pool (one region trains, every region serves)."
  type        = bool
  default     = false
}

variable "training_zones" {
  description = "Zones of the spot training pool (when training_enabled)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.training_zones) > 0 || !var.training_enabled
    error_message = "training_enabled needs at least one zone in training_zones."
  }
}

variable "training_machine_type" {
  description = "Machine type of the training nodes (A2 carries NVIDIA A100s)."
  type        = string
  default     = "a2-highgpu-1g"
}

variable "training_accelerator" {
  description = "GPU type and count per training node."
  type = object({
    type  = string
    count = number
  })
  default = {
    type  = "nvidia-tesla-a100"
    count = 1
  }

  validation {
    condition     = var.training_accelerator.count >= 1
    error_message = "A training node needs at least one GPU."
  }
}

variable "training_max_nodes" {
  description = "Most spot training nodes at once (the pool scales to zero between jobs)."
  type        = number
  default     = 2
}

variable "gpu_driver_version" {
  description = "NVIDIA driver GKE installs on the nodes: DEFAULT, LATEST, or INSTALLATION_DISABLED (then the GPU Operator installs it)."
  type        = string
  default     = "LATEST"

  validation {
    condition     = contains(["DEFAULT", "LATEST", "INSTALLATION_DISABLED"], var.gpu_driver_version)
    error_message = "gpu_driver_version must be DEFAULT, LATEST or INSTALLATION_DISABLED."
  }
}

variable "disk_size_gb" {
  description = "Boot disk per node; the Triton image with the model is about 15 GB."
  type        = number
  default     = 100
}

variable "labels" {
  description = "Extra Kubernetes node labels for every pool."
  type        = map(string)
  default     = {}
}

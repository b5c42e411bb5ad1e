//! Supervisors' calls to the server: the merged log and device management.

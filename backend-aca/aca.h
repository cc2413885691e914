/* sockerless-backend-aca: Docker containers as Azure Container Apps job
 * executions. A container maps to a job (shared by identical
 * configurations, as Cloud Run's jobs are) and each start is one
 * execution of it (Jobs_Start with the run's own environment in the
 * execution template). sockerless-agent comes from the agent image: an
 * init container copies it into an EmptyDir the main container runs it
 * from, so no image is derived; it calls the backend back (reverse mode:
 * job replicas take no inbound connection). This directory is the
 * translation; the rest is common/ (the backend kit and the Azure
 * session, sockerless/azure_backend.h). docs/backend-aca.md. */
#ifndef SOCKERLESS_ACA_H
#define SOCKERLESS_ACA_H

#include "aca_vol.h"
#include "sockerless/azure_backend.h"
#include "sockerless/backend.h"
#include "sockerless/backend_kit.h"
#include "sockerless/str.h"

/* The open Azure session (credentials, ARM client, rg_path). */
struct azure_backend *aca_session(void);
/* The managed environment's full resource id
 * ("/subscriptions/.../managedEnvironments/<name>"), resolved at start-up
 * from aca.environment. */
const char *aca_environment_id(void);

#endif

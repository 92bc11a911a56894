-- Argo CD health check for imapprobe.dev/ImapProbe. Install it under the
-- argocd-cm key resource.customizations.health.imapprobe.dev_ImapProbe
-- (docs/operator.md, "GitOps"). It needs no Lua standard library, so it runs
-- without useOpenLibs.
--
-- Healthy means the probe is set up and reporting. A mail outage
-- (Available=False) stays Healthy, as for kstatus and Helm 4: the
-- application deployed what it should; alert on the service through
-- Prometheus. The message says what the last run saw.
local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

if obj.spec ~= nil and obj.spec.suspend == true then
  return {status = "Suspended", message = "spec.suspend is true: no runs are scheduled"}
end

local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration ~= generation then
  return {status = "Progressing",
          message = "waiting for the operator to see generation " .. tostring(generation)}
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return {status = "Degraded", message = tostring(stalled.reason) .. ": " .. tostring(stalled.message)}
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return {status = "Progressing", message = tostring(reconciling.message)}
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  local available = condition("Available")
  if available ~= nil then
    return {status = "Healthy",
            message = "reporting; Available=" .. tostring(available.status) .. " (" ..
                      tostring(available.reason) .. ")"}
  end
  return {status = "Healthy", message = tostring(ready.message)}
end

return {status = "Progressing", message = "waiting for the first run"}
